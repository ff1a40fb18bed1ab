"""Scale-across: the DCI bill of materials by hand, cross-site collectives (analytic vs flow-level, the
connection window), hierarchical bytes, training with DP across sites, and the CLI on such scenarios."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.collectives.multisite import (
    cross_communicator, cross_site_transfer, ring_members, time_across_sites, time_cross_site, window_bytes,
)
from fabricsim.errors import FabricsimError
from fabricsim.netsim.transport import get_transport
from fabricsim.plan_sites import plan_sites
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import build_fabric
from fabricsim.topology.sites import design_sites
from fabricsim.workload import model_entry
from fabricsim.workload.multisite import train_across_sites

B200 = {"gpu": "b200", "nic": "connectx-8", "scale_out_per_gpu": "800G"}
TH6 = {"switch": "tomahawk6", "transport": "roce", "load_balancing": "spray"}


def _scenario(gpus=1024, **sites):
    return scenario_from_dict({"cluster": {**B200, "gpus": gpus}, "fabric": TH6,
                               "sites": {"count": 2, "distance_km": 80, "dci_bits_per_s": "51.2T", **sites}})


def test_dci_bill_of_materials_by_hand():
    plan = plan_sites(_scenario(distance_km=200))
    # 51.2 Tb/s / 800 Gb/s = 64 wavelengths; C-band 4.8 THz / 150 GHz = 32 per fibre pair -> 2 pairs
    assert (plan.wavelengths, plan.fiber_pairs) == (64, 2)
    # 200 km with an amplifier every 80 km: ceil(200/80) - 1 = 2 amplifier sites per route
    assert plan.amplifier_sites == 2
    lines = {line.kind: line for line in plan.dci_lines}
    assert lines["coherent optics"].units == 128  # a module at each end of every wavelength
    assert lines["terminal"].units == 4  # every fibre pair at both sites
    assert lines["amplifier"].units == 4  # 2 pairs x 2 sites along the route
    assert lines["fiber"].units == pytest.approx(400)  # 2 pairs x 200 km
    assert lines["coherent optics"].power_w == 128 * 30
    # light in glass ~5 us/km plus the coherent DSP at both ends
    assert plan.one_way_latency_s == pytest.approx(200e3 * 5e-9 + 2 * 5e-6)
    assert plan.dci_usd_per_year > plan.dci_capex_usd / plan.years
    assert plan.capex_usd["dci"] == pytest.approx(plan.dci_capex_usd)


def test_sites_bad_input_names_the_field():
    with pytest.raises(FabricsimError, match="sites.count"):
        design_sites(_scenario(gpus=1023))
    with pytest.raises(FabricsimError, match="sites.optics"):
        design_sites(scenario_from_dict({"cluster": {"gpus": 512}, "sites": {"optics": "zr-800g"}}))  # Quantum-2: no 800G
    with pytest.raises(FabricsimError, match="sites.optics"):
        design_sites(_scenario(optics="zr-900g"))
    with pytest.raises(FabricsimError, match="sites.terminal"):
        design_sites(_scenario(terminal="edfa-ila"))


@pytest.fixture(scope="module")
def design():
    return design_sites(_scenario(dci_bits_per_s="3.2T", load_balancing="spray"))


def test_cross_site_flow_level_matches_analytic_when_sprayed(design):
    groups = np.arange(1024).reshape(64, 16).T  # 16 DP groups of 64, 32 per site
    _, rings = ring_members(groups, design)
    assert rings.shape == (512, 2) and np.all(rings[:, 1] - rings[:, 0] == 512)
    for op in ("all_reduce", "reduce_scatter", "all_gather"):
        flow = time_cross_site(design, op, rings, 2**24, "flow", "spray")
        assert flow.transfer_s == pytest.approx(flow.ideal_transfer_s, rel=0.01)
        # every byte a site sends crosses the DCI: rings x (steps / s) x shard over the payload capacity
        steps = 2 if op == "all_reduce" else 1
        expected = 512 * steps / 2 * 2**24 * 8 / (3.2e12 * get_transport("roce").payload_efficiency)
        assert flow.transfer_s == pytest.approx(expected, rel=0.01)
        ecmp = time_cross_site(design, op, rings, 2**24, "flow", "ecmp")
        assert ecmp.transfer_s >= flow.transfer_s * 0.999  # hashing onto 4 wavelengths can only collide


@pytest.mark.parametrize("lb", ["spray", "ecmp"])
def test_cross_site_flow_time_is_proportional_to_the_shard(lb, monkeypatch):
    """The flow-level cross-site time scales from one simulation at a reference shard: simulating at the
    shard itself gives the same time."""
    from fabricsim.collectives import multisite

    design = design_sites(_scenario(distance_km=2000, dci_bits_per_s="3.2T", load_balancing=lb))
    _, rings = ring_members(np.arange(1024).reshape(64, 16).T, design)
    for op, shard in (("all_reduce", 3 * 10**7 / 32), ("send_recv", 12345.0)):
        cross_rings = rings if op != "send_recv" else rings[:, :2]
        scaled = time_cross_site(design, op, cross_rings, shard, "flow")
        monkeypatch.setattr(multisite, "REFERENCE_BYTES", shard)
        direct = time_cross_site(design, op, cross_rings, shard, "flow")
        monkeypatch.undo()
        assert scaled.transfer_s == pytest.approx(direct.transfer_s, rel=1e-12)
        assert scaled.busiest == direct.busiest


@pytest.mark.parametrize("lb", ["spray", "ecmp"])
def test_sweep_across_sites_equals_one_size_at_a_time(lb):
    """A sweep simulates once and scales; every size comes out as if it were swept alone."""
    from fabricsim.collectives.multisite import sweep_across_sites

    design = design_sites(_scenario(dci_bits_per_s="3.2T", load_balancing=lb))
    sizes = [2**20, 3 * 10**7]
    swept = sweep_across_sites(design, "all_reduce", sizes, ranks=64, method="flow").results
    alone = [sweep_across_sites(design, "all_reduce", [size], ranks=64, method="flow").results[0] for size in sizes]
    for a, b in zip(swept, alone):
        assert (a.algorithm, a.time_s, a.ideal_time_s, a.latency_s) == (b.algorithm, b.time_s, b.ideal_time_s,
                                                                          b.latency_s)


def test_connection_window_caps_a_long_link():
    design = design_sites(_scenario(distance_km=2000, dci_bits_per_s="51.2T", load_balancing="spray"))
    rings = np.array([[0, 512]])  # one ring: a few connections cannot fill 51.2 Tb/s 2,000 km away
    comm = cross_communicator(design)
    transfer, limit = cross_site_transfer(design, "all_reduce", 1, 2**30)
    rtt = 2 * design.dci.one_way_latency_s
    assert limit == "connection window"
    assert transfer == pytest.approx(2**30 * 8 / (comm.channels * window_bytes(design) * 8 / rtt), rel=1e-9)
    flow = time_cross_site(design, "all_reduce", rings, 2**30, "flow", "spray")
    assert flow.transfer_s == pytest.approx(transfer, rel=0.01)


def test_hierarchical_call_is_inside_plus_across(design):
    fabric = build_fabric(design.site)
    groups = np.arange(1024).reshape(64, 16).T
    flow = time_across_sites(design, fabric, "all_reduce", groups, 2**28, "flow", "ring")
    analytic = time_across_sites(design, design.site, "all_reduce", groups, 2**28, "analytic", "ring")
    assert flow.time_s == pytest.approx(flow.inside_s + flow.cross.time_s)
    assert flow.time_s == pytest.approx(analytic.time_s, rel=0.01)
    assert flow.cross.shard_bytes == pytest.approx(2**28 / 32)  # the shard after the in-site reduce-scatter
    with pytest.raises(FabricsimError, match="each of the 2 sites"):
        time_across_sites(design, design.site, "all_reduce", np.arange(64)[None, :], 2**20)


@pytest.fixture(scope="module")
def study():
    scenario = scenario_from_dict({
        "cluster": {"gpus": 4096}, "sites": {"count": 2, "distance_km": 80, "dci_bits_per_s": "6.4T",
                                             "optics": "zr-400g"},
        "workload": {"train": {"model": "llama3-70b", "tp": 8, "pp": 4, "dp": 128, "global_batch": 512,
                               "seq": 8192, "order": "tp-cp-ep-pp-dp"}}})
    spec = scenario.workload.train
    return scenario, train_across_sites(scenario, spec, model_entry(scenario, spec.model, "m"), compare=True)


def test_training_across_sites_costs_what_the_dci_cannot_hide(study):
    scenario, out = study
    assert out.result.step_time_s >= out.unlimited_step_s
    assert out.exposed_cross_site_s > 0
    assert out.mfu_loss > 0
    # every DP group (tp x pp = 32 of them) sends (s - 1) / s of its gradient reduce-scatter and weight
    # all-gather buffers across, whatever the number of ranks per site
    dp = [c for c in out.result.calls if c.kind == "dp"]
    assert {c.op for c in dp} == {"reduce_scatter", "all_gather"}
    expected = 32 * 0.5 * sum(c.size_bytes for c in dp)
    assert out.cross_bytes_per_step == pytest.approx(expected, rel=1e-6)
    one, five = out.needed_bits_per_s["1%"], out.needed_bits_per_s["5%"]
    assert five is not None and one is not None and one > five


def test_more_dci_never_slows_the_step(study):
    scenario, _ = study
    spec = scenario.workload.train
    model = model_entry(scenario, spec.model, "m")
    steps = []
    for capacity in ("1.6T", "6.4T", "25.6T"):
        variant = scenario.model_copy(update={"sites": scenario.sites.model_copy(
            update={"dci_bits_per_s": float(capacity[:-1]) * 1e12})})
        steps.append(train_across_sites(variant, spec, model).result.step_time_s)
    assert steps[0] > steps[1] >= steps[2]


def test_only_data_or_pipeline_parallelism_may_cross_sites(study):
    scenario, _ = study
    spec = scenario.workload.train.model_copy(update={"order": "cp-pp-dp-tp"})
    with pytest.raises(FabricsimError, match="inside a site"):
        train_across_sites(scenario, spec, model_entry(scenario, spec.model, "m"))


def test_pipeline_across_sites_sends_only_the_middle_boundary(study):
    scenario, dp_across = study
    spec = scenario.workload.train.model_copy(update={"order": "tp-cp-ep-dp-pp"})
    out = train_across_sites(scenario, spec, model_entry(scenario, spec.model, "m"))
    crossing = [c for c in out.result.calls if getattr(c.timing, "cross", None) is not None]
    assert [c.op for c in crossing] == ["send_recv"]  # DP groups now sit inside one stage, one site
    pp = crossing[0]
    # pp = 4 stages, 2 per site: one boundary of each of the tp x dp = 1,024 pipelines crosses
    assert pp.timing.cross.rings == 1024
    # every crossing pipeline sends its activations (forward) and gradients (backward) once per model chunk
    # and micro-batch: with interleaving (one layer per chunk) that is vpp times a plain 1F1B's traffic
    each_way = 1024 * pp.size_bytes * pp.per_micro_batch * out.result.micro_batches / 2
    assert out.cross_bytes_per_step == pytest.approx(each_way)
    assert pp.per_micro_batch == 2 * out.result.parallelism.virtual_stages


def test_cli_plan_and_train_what_if_on_two_sites(tmp_path):
    path = tmp_path / "two-sites.yaml"
    path.write_text(
        "cluster: {gpus: 4096}\n"
        "sites: {count: 2, distance_km: 80, dci_bits_per_s: 6.4T, optics: zr-400g}\n"
        "workload: {train: {model: llama3-70b, tp: 8, pp: 4, dp: 128, global_batch: 512, seq: 8192, order: tp-cp-ep-pp-dp}}\n")
    runner = CliRunner()
    out = runner.invoke(app, ["plan", str(path)])
    assert out.exit_code == 0, out.output
    assert "DCI bill of materials" in out.output and "zr-400g" in out.output
    out = runner.invoke(app, ["plan", str(path), "--json"])
    data = json.loads(out.stdout)["sites_plan"]
    assert data["wavelengths"] == 16 and data["sites"] == 2
    page = tmp_path / "two-sites.html"
    out = runner.invoke(app, ["plan", str(path), "--html", str(page)])
    assert out.exit_code == 0, out.output
    assert "Between the sites" in page.read_text() and "MFU against the DCI" in page.read_text()
    out = runner.invoke(app, ["train", str(path), "--what-if"])
    assert out.exit_code == 0, out.output
    assert "one site holding all" in out.output and "MFU within 1%" in out.output


def test_collective_sweep_across_sites(design):
    from fabricsim.collectives.multisite import sweep_across_sites

    report = sweep_across_sites(design, "all_reduce", [2**20, 2**30], ranks=64)
    small, large = report.results
    assert small.time_s > small.latency_s > 2 * design.dci.one_way_latency_s  # two ring steps across
    assert large.busbw_bytes_per_s > small.busbw_bytes_per_s
    with pytest.raises(FabricsimError, match="multiple of 2"):
        sweep_across_sites(design, "all_reduce", [2**20], ranks=63)
    out = CliRunner().invoke(app, ["collective", "--set", "sites.count=2", "--set", "cluster.gpus=512",
                                   "--set", "sites.optics=zr-400g", "--sizes", "1MiB", "--method", "analytic"])
    assert out.exit_code == 0, out.output
    assert "across" in out.output


def test_flows_to_gpus_outside_the_fabric_are_refused_by_name_on_every_fabric_kind():
    from fabricsim.netsim.routing import route
    from fabricsim.topology.sites import build_dci_fabric

    dci = build_dci_fabric(design_sites(_scenario()), window_bytes=1e6)
    with pytest.raises(FabricsimError, match=r"flow destination GPU out of range 0\.\.1023"):
        route(dci, np.array([0]), np.array([1024]), "ecmp")


def test_a_scenario_name_with_brackets_prints_literally_in_the_sites_and_torus_plans():
    from rich.console import Console

    from fabricsim.plan_torus import plan_torus
    from fabricsim.report.sites_view import sites_tables
    from fabricsim.report.torus_view import torus_tables

    name = "[bold]cluster[/bold] A"
    sites = _scenario().model_copy(update={"name": name})
    torus = scenario_from_dict({"name": name, "cluster": {"gpu": "tpu-v4", "gpus": 4096},
                                "fabric": {"topology": "torus", "torus": {"dims": [16, 16, 16]}}})
    for tables in (sites_tables(plan_sites(sites)), torus_tables(plan_torus(torus))):
        console = Console(record=True, width=200)
        console.print(tables)
        assert f"Plan: {name}" in console.export_text()
