"""Torus + OCS: counts by hand, twisted tori, routing loads, collectives (analytic vs flow-level), slices
and cube failures, the fat-tree comparison, and the CLI."""

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.collectives.torus_api import run_torus_collective, slice_dims
from fabricsim.errors import FabricsimError
from fabricsim.netsim.cayley import class_loads, patterns_for, route_torus
from fabricsim.plan_torus import compare_with_fat_tree, plan_torus
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.slices import largest_job_after_failures, schedulable
from fabricsim.topology.torus import build_torus, design_torus


def torus(dims, twist=False, ocs="palomar-136", **cluster):
    return scenario_from_dict({"cluster": {"gpu": "tpu-v4", "gpus": math.prod(dims), **cluster},
                               "fabric": {"topology": "torus", "torus": {"dims": dims, "twist": twist, "ocs": ocs}}})


def test_tpu_v4_pod_counts_by_hand():
    design = design_torus(torus([16, 16, 16]))
    # 3 dimensions x 4,096 chips; a line of 16 chips crosses 4 cube faces (3 inside + the wrap-around)
    assert design.links == 12288 and design.optical_links == 3 * 4096 // 4 == 3072
    assert design.transceivers == 6144  # 1.5 per chip
    # one OCS per (dimension, face position): 3 x 16, each 2 ports per cube = 128 of 136 with circulators
    assert design.ocs_count == 48 and design.ocs_ports_used == 6144
    assert design_torus(torus([16, 16, 16], ocs=None)).ocs_count == 0
    fabric = build_torus(design)
    assert fabric.bisection_links() == 2 * 16 * 16  # two cuts of every ring along the cut dimension
    assert fabric.link_optical.sum() == 3072
    plan = plan_torus(torus([16, 16, 16]))
    assert plan.hosts == 1024 and plan.racks == 64
    assert plan.capex_usd["switches"] == pytest.approx(48 * 68000)


def test_twisted_torus_shapes_and_bisection():
    with pytest.raises(FabricsimError, match="twist"):
        design_torus(torus([16, 16, 16], twist=True))
    with pytest.raises(FabricsimError, match="OCS"):
        design_torus(torus([4, 4, 8], twist=True, ocs=None))
    plain = build_torus(design_torus(torus([4, 4, 8])))
    twisted = build_torus(design_torus(torus([4, 4, 8], twist=True)))
    assert twisted.bisection_links() == 2 * plain.bisection_links()
    # the ring along a short dimension of a K x K x 2K twisted torus has 2K chips (walk K, jump +K, walk K)
    chip, seen = 0, set()
    while chip not in seen:
        seen.add(chip)
        chip = int(twisted.plus[chip, 0])
    assert len(seen) == 8


def test_bad_torus_input_names_the_field():
    with pytest.raises(FabricsimError, match="cluster.gpus"):
        design_torus(scenario_from_dict({"cluster": {"gpu": "tpu-v4", "gpus": 4000}, "fabric": {"topology": "torus"}}))
    with pytest.raises(FabricsimError, match="fabric.torus"):
        scenario_from_dict({"fabric": {"topology": "torus", "torus": {"dims": [16, 16, 10]}}})
    with pytest.raises(FabricsimError, match="fabric.torus.ocs"):
        design_torus(torus([4, 4, 4], ocs="palomar-9000"))


@pytest.mark.parametrize("dims,twist", [([4, 4, 4], False), ([4, 4, 8], False), ([4, 4, 8], True), ([8, 8, 16], True)])
def test_routing_patterns_are_minimal_and_conserve_flow(dims, twist):
    fabric = build_torus(design_torus(torus(dims, twist)))
    for policy in ("ecmp", "spray"):
        pat = patterns_for(fabric, policy)
        per_offset = np.bincount(np.repeat(np.arange(fabric.design.chips), np.diff(pat.ptr)), weights=pat.weight,
                                 minlength=fabric.design.chips)
        assert np.allclose(per_offset, pat.hops)  # every unit of flow takes exactly the minimal hops
        # translation invariance: total load = sum over offsets of hops, spread over every arc of its class
        assert class_loads(fabric, policy).sum() == pytest.approx(pat.hops.sum())


def test_all_to_all_load_on_a_regular_torus_by_hand():
    fabric = build_torus(design_torus(torus([16, 16, 16])))
    # a ring of k = 16: offsets 1..7 cross a given link 1..7 times, the tie at 8 is split: 28 + 4 = 32;
    # every (y, z) of the destination adds a factor 256
    assert np.allclose(class_loads(fabric, "ecmp"), 32 * 256)


def test_routed_flows_match_the_class_loads():
    fabric = build_torus(design_torus(torus([4, 4, 8], twist=True)))
    n = fabric.design.chips
    src = np.repeat(np.arange(n), n)
    dst = np.tile(np.arange(n), n)
    routed = route_torus(fabric, src, dst, "ecmp")
    load = np.asarray(routed.incidence.sum(axis=0)).ravel()
    assert load.max() == pytest.approx(class_loads(fabric, "ecmp").max())


@pytest.mark.parametrize("dims", [[4, 4, 4], [4, 4, 8], [8, 8, 8]])
@pytest.mark.parametrize("op", ["all_reduce", "reduce_scatter", "all_to_all"])
def test_torus_collectives_flow_level_matches_analytic(dims, op):
    scenario = torus(dims)
    flow = run_torus_collective(scenario, op, "auto", [2**30], method="flow").results[0]
    analytic = run_torus_collective(scenario, op, "auto", [2**30], method="analytic").results[0]
    assert flow.time_s == pytest.approx(analytic.time_s, rel=0.01)


def test_all_reduce_busbw_by_hand():
    """Multi-dimensional bidirectional rings keep all 2D links busy: t = S (1 - 1/N) / (D x link payload)."""
    scenario = torus([16, 16, 16])
    design = design_torus(scenario)
    result = run_torus_collective(scenario, "all_reduce", "auto", [2**32], method="analytic").results[0]
    rate = 400e9 / 8 * design.scale_up.payload_efficiency
    assert result.time_s - result.latency_s == pytest.approx(2**32 * (1 - 1 / 4096) / (3 * rate), rel=1e-6)
    assert result.busbw_bytes_per_s == pytest.approx(6 * rate, rel=0.02)


def test_twisting_speeds_up_all_to_all_as_published():
    """TPU v4 paper: 1.63x on 4x4x8, 1.31x on 4x8x8 (validation/cases/torus.yaml)."""
    gain = []
    for dims in ([4, 4, 8], [4, 8, 8]):
        times = [run_torus_collective(torus(dims, t), "all_to_all", "auto", [2**30], method="analytic").results[0]
                 for t in (False, True)]
        gain.append((times[0].time_s - times[0].latency_s) / (times[1].time_s - times[1].latency_s))
    assert gain[0] == pytest.approx(1.63, rel=0.05) and gain[1] == pytest.approx(1.31, rel=0.05)


def test_slices_and_a_failed_cube_with_and_without_ocs():
    design = design_torus(torus([16, 16, 16]))
    assert slice_dims(512, design) == (8, 8, 8) and slice_dims(2048, design) == (8, 16, 16)
    with pytest.raises(FabricsimError, match="whole cubes"):
        slice_dims(100, design)
    with pytest.raises(FabricsimError, match="mesh"):
        run_torus_collective(torus([16, 16, 16], ocs=None), "all_reduce", ranks=512)
    assert run_torus_collective(torus([16, 16, 16]), "all_reduce", ranks=512).ranks == 512
    # one dead cube: with OCS every other cube still joins a job; statically the largest box avoiding it
    assert largest_job_after_failures(design, [(2, 2, 2)], True) == 63
    assert largest_job_after_failures(design, [(2, 2, 2)], False) == 48
    for availability in (0.999, 0.99):
        ocs = schedulable(design, (2, 4, 4), availability, True, trials=4000)
        static = schedulable(design, (2, 4, 4), availability, False, trials=4000)
        assert ocs >= static
    assert schedulable(design, (2, 4, 4), 0.95, False, trials=4000) < schedulable(design, (2, 4, 4), 0.95, True,
                                                                                     trials=4000)


def test_fat_tree_of_the_same_chips_costs_more_and_wins_all_to_all():
    scenario = torus([16, 16, 16])
    comparison = compare_with_fat_tree(scenario, plan_torus(scenario))
    assert not comparison.error
    rows = {r["metric"]: r for r in comparison.rows}
    assert rows["network capex"]["fat_tree"] > 5 * rows["network capex"]["torus"]
    assert rows["network power"]["fat_tree"] > 10 * rows["network power"]["torus"]
    all_reduce = rows["all-reduce 1 GiB"]
    # both bandwidth-optimal; the fat-tree runs NCCL's tree at 0.92 x 0.85 of its channel bandwidth (simple
    # TREE pattern, one NIC per chip: tuning.cc), the torus its rings at link rate
    assert all_reduce["fat_tree"] == pytest.approx(all_reduce["torus"], rel=0.3)
    a2a = rows["all-to-all 1 GiB per chip"]
    assert a2a["fat_tree"] < a2a["torus"] / 3  # the torus's bisection grows as n^(2/3)


def test_cli_plan_and_collective_on_a_torus():
    runner = CliRunner()
    out = runner.invoke(app, ["plan", "examples/tpu-torus-ocs-4096.yaml"])
    assert out.exit_code == 0, out.output
    assert "48 x palomar-136" in out.output and "The same chips on a fat-tree" in out.output
    out = runner.invoke(app, ["collective", "examples/tpu-torus-ocs-4096.yaml", "--op", "all_reduce",
                              "--sizes", "1MiB:64MiB"])
    assert out.exit_code == 0, out.output
    assert "torus_ring" in out.output
    out = runner.invoke(app, ["collective", "examples/tpu-torus-ocs-4096.yaml", "--op", "broadcast"])
    assert out.exit_code == 2 and "on a torus" in out.output


def test_spine_free_fabric_removes_the_core_tier_and_adds_ocs():
    from fabricsim.plan import plan_scenario
    from fabricsim.plan_ocs_spine import spine_free_comparison

    scenario = scenario_from_dict({"cluster": {"gpus": 16384}})  # NDR: 3 tiers, 16 pods
    plan = plan_scenario(scenario, materialise=False)
    core = next(t for t in plan.tier_lines if t.tier == "core")
    c = spine_free_comparison(scenario)
    assert c.core_switches_removed == core.switches and c.blocks == plan.pods
    assert c.ocs_count == math.ceil(core.links / 136)  # one circulator port per block uplink
    assert c.direct_links_per_block_pair == pytest.approx(c.uplinks_per_block / (plan.pods - 1))
    assert 0 < c.power_saving < 0.5 and c.direct_power_w == pytest.approx(
        c.clos_power_w - core.switches * scenario.catalog().switch(core.switch).power_w - sum(
            m.power_w for m in plan.media_lines
                                                    if m.tier == "core" and m.kind != "fiber") / 2 + c.ocs_count * 100)
    free = spine_free_comparison(scenario.model_copy(update={"economics": scenario.economics.model_copy(
        update={"prices": {"palomar-136": 0.0}})}))
    assert free.capex_saving > c.capex_saving  # the OCS price is what the capex saving hinges on
    with pytest.raises(FabricsimError, match="3-tier"):
        spine_free_comparison(scenario_from_dict({"cluster": {"gpus": 1024}}))


def test_plan_html_draws_the_pod_and_the_comparison(tmp_path):
    path = tmp_path / "torus.html"
    out = CliRunner().invoke(app, ["plan", "examples/tpu-torus-ocs-4096.yaml", "--html", str(path)])
    assert out.exit_code == 0, out.output
    text = path.read_text()
    assert "scatter3d" in text and "Torus + OCS vs a fat-tree of the same chips" in text
    assert "A failed cube, with and without OCS" in text
    out = CliRunner().invoke(app, ["plan", "--set", "cluster.gpus=64", "--html", str(tmp_path / "x.html")])
    assert out.exit_code == 2 and "fabricsim run --html" in out.output


def test_flows_to_chips_outside_the_torus_are_refused_by_name():
    from fabricsim.netsim.routing import route

    fabric = build_torus(design_torus(torus([4, 4, 4])))
    with pytest.raises(FabricsimError, match=r"flow source chip out of range 0\.\.63"):
        route(fabric, np.array([-1]), np.array([3]), "ecmp")
