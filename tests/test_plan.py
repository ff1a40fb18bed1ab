"""Bill of materials: materialised and count-only plans agree; structural invariants; seed claims."""

import numpy as np
import pytest

from fabricsim.plan import compare_optics, plan_design, plan_scenario
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import build_fabric
from fabricsim.topology.design import design_fabric

SCENARIOS = [
    {},
    {"cluster": {"gpus": 1024}},
    {"cluster": {"gpus": 1000}, "fabric": {"rail_optimized": False}},
    {"cluster": {"gpus": 6000}, "fabric": {"oversubscription": [3, 1], "tiers": 3}},
    {"cluster": {"gpus": 4096, "gpu": "gb300"}, "fabric": {"switch": "tomahawk6", "transport": "roce", "planes": 4}},
    {"cluster": {"gpus": 2304, "gpu": "rubin"}, "fabric": {"switch": "quantum-x800", "optics": "cpo"}},
    {"cluster": {"gpus": 40}, "fabric": {"switch": "quantum-2"}},
]


@pytest.mark.parametrize("data", SCENARIOS)
def test_count_only_and_materialised_plans_agree(data):
    design = design_fabric(scenario_from_dict(data))
    counted = plan_design(design).to_dict()
    fabric = build_fabric(design)
    materialised = plan_design(design, fabric).to_dict()
    counted.pop("counted_from"), materialised.pop("counted_from")
    assert counted == materialised


@pytest.mark.parametrize("data", SCENARIOS)
def test_every_nic_port_has_exactly_one_link_and_no_switch_is_overfull(data):
    design = design_fabric(scenario_from_dict(data))
    fabric = build_fabric(design)
    ports = fabric.ports_used_per_switch()
    endpoint = fabric.node_tier == 0
    assert np.all(ports[endpoint] == 1)
    assert endpoint.sum() == design.gpus * design.ports_per_nic_per_plane * design.planes
    assert ports[~endpoint].max() <= design.shape.radix
    # links join adjacent tiers only
    assert np.all(fabric.node_tier[fabric.link_upper] == fabric.node_tier[fabric.link_lower] + 1)


def test_rail_optimized_leaf_holds_one_rail_of_consecutive_servers():
    design = design_fabric(scenario_from_dict({"cluster": {"gpus": 2048}}))
    fabric = build_fabric(design)
    leaf = fabric.endpoint_leaf
    gpu = np.arange(2048)
    # GPU i of every server in a group of 32 servers shares a leaf; a leaf holds one rail only
    for l in np.unique(leaf):
        members = gpu[leaf == l]
        assert len(np.unique(members % 8)) == 1
        assert len(members) == 32


def test_default_scenario_counts_by_hand():
    # 16,384 GPUs x 400G on 64-port NDR: 512 leaves (32 down / 32 up); 16 pods of 32 leaves,
    # 32 spines per pod = 512 spines; pods=16 -> each spine sends 4 links to each of 8 cores of its group: 256 cores.
    plan = plan_scenario(scenario_from_dict({}))
    assert [t.switches for t in plan.tier_lines] == [512, 512, 256]
    assert [t.links for t in plan.tier_lines] == [16384, 16384, 16384]
    assert plan.switch_hops_worst == 5
    assert plan.bisection_bits_per_s == pytest.approx(16384 * 400e9 / 2)


def test_optics_power_is_units_times_catalog_power():
    scenario = scenario_from_dict({"cluster": {"gpus": 1024}, "fabric": {"copper_in_reach": False}})
    plan = plan_scenario(scenario)
    catalog = scenario.catalog()
    expected = sum(m.units * catalog.medium(m.name).power_w for m in plan.media_lines if m.name != "fiber")
    assert plan.power_w["optics_and_cables"] == pytest.approx(expected)
    # 2 tiers x 1024 links x 2 ends
    assert plan.optical_ends == 2 * 2 * 1024


def test_copper_used_where_reach_allows():
    plan = plan_scenario(scenario_from_dict({"cluster": {"gpus": 1024}, "layout": {"host_to_leaf_m": 1.5}}))
    assert plan.tier_lines[0].media.startswith("dac-")
    assert plan.tier_lines[1].media.startswith("2× dsp-")


def test_cpo_halves_optics_power_and_cuts_connection_points():
    scenario = scenario_from_dict({"cluster": {"gpus": 8192, "gpu": "gb300"}, "fabric": {"switch": "quantum-x800"}})
    options = {o.family: o for o in compare_optics(scenario, ("dsp", "lpo", "cpo"))}
    assert options["lpo"].optics_power_w < 0.7 * options["dsp"].optics_power_w
    assert options["cpo"].optics_power_w < options["lpo"].optics_power_w
    assert options["cpo"].connection_points < 0.6 * options["dsp"].connection_points


def test_tomahawk6_wires_more_than_a_million_gpus_with_three_tiers_and_planes():
    # seed 001: "enough to wire a cluster of more than one million XPUs"
    scenario = scenario_from_dict(
        {"cluster": {"gpus": 1_048_576, "gpu": "gb300"}, "fabric": {"switch": "tomahawk6", "transport": "roce", "planes": 4}}
    )
    plan = plan_scenario(scenario)  # count-only path at this size
    assert plan.counted_from == "arithmetic counts"
    assert plan.tiers == 3 and plan.radix == 512
    assert plan.max_gpus_at_these_tiers > 1_000_000
    # 800G links (radix 128), one plane: 3 tiers top out below a million
    single = design_fabric(scenario_from_dict({"cluster": {"gpus": 500_000, "gpu": "gb300"},
                                               "fabric": {"switch": "tomahawk6", "transport": "roce"}}))
    assert plan_design(single).max_gpus_at_these_tiers < 1_000_000


def test_non_blocking_three_tier_needs_about_three_times_an_oversubscribed_network():
    # seed 001: non-blocking 3-tier roughly triples switch and optics count vs oversubscribed enterprise networks
    base = {"cluster": {"gpus": 32768}, "fabric": {"tiers": 3}}
    nonblocking = plan_scenario(scenario_from_dict(base), materialise=False)
    oversubscribed = plan_scenario(
        scenario_from_dict({**base, "fabric": {"tiers": 3, "oversubscription": [3, 3]}}), materialise=False
    )
    switch_ratio = nonblocking.switches / oversubscribed.switches
    optics_ratio = nonblocking.optical_ends / oversubscribed.optical_ends
    assert 2.0 < switch_ratio < 4.0
    assert 1.5 < optics_ratio < 4.0


def test_optics_of_a_100k_gpu_cluster_draw_tens_of_megawatts_with_dsp_at_1_6t():
    """Seed 004: optical modules of a 100,000-GPU cluster may draw up to 40 MW."""
    rubin = {"cluster": {"gpus": 100_000, "gpu": "rubin"}, "fabric": {"switch": "quantum-x800"}}
    dsp = plan_scenario(scenario_from_dict(rubin), materialise=False)
    assert 15e6 < dsp.power_w["optics_and_cables"] < 40e6
    lpo = plan_scenario(scenario_from_dict({**rubin, "fabric": {"switch": "quantum-x800", "optics": "lpo"}}),
                        materialise=False)
    assert lpo.power_w["optics_and_cables"] < 0.7 * dsp.power_w["optics_and_cables"]
    # at 400G per GPU the same cluster's optics draw a quarter as much
    h100 = plan_scenario(scenario_from_dict({"cluster": {"gpus": 100_000}, "fabric": {"switch": "tomahawk5",
                                                                                         "transport": "roce"}}),
                         materialise=False)
    assert h100.power_w["optics_and_cables"] < 0.35 * dsp.power_w["optics_and_cables"]
