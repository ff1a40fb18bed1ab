"""Fabric shapes beyond the single-switch rail-optimized fat-tree: a ToR per rack with per-tier switches
and oversubscription (Meta's Llama 3 RoCE cluster), per-tier link speeds, trays of an NVL72."""

import numpy as np
import pytest

from fabricsim.errors import FabricsimError
from fabricsim.netsim.routing import route
from fabricsim.plan import plan_design, plan_scenario
from fabricsim.scenario import load_scenario, scenario_from_dict
from fabricsim.topology.build import build_fabric
from fabricsim.topology.design import design_fabric
from fabricsim.topology.fat_tree import PortBudget

LLAMA3 = "examples/llama3-24k-h100-roce.yaml"


def test_llama3_roce_cluster_structure_by_hand():
    # 24,576 GPUs / 16 per rack = 1,536 ToRs; 192 racks per pod -> 8 pods; a ToR has 16 x 400G up, so
    # 16 cluster switches per pod (128); each sends ceil(192/7) = 28 uplinks, all to one aggregation
    # switch of its group (bundle 28 <= 576/8): 16 aggregation switches.
    plan = plan_scenario(load_scenario(LLAMA3))
    leaf, spine, core = plan.tier_lines
    assert (leaf.switches, spine.switches, core.switches) == (1536, 128, 16)
    assert (leaf.links, spine.links, core.links) == (24576, 1536 * 16, 128 * 28)
    assert (leaf.switch, spine.switch, core.switch) == ("minipack2", "arista-7816r3", "arista-7816r3")
    assert plan.pods == 8 and plan.gpus_per_pod == 3072
    assert leaf.oversubscription == 1.0
    assert spine.oversubscription == pytest.approx(192 / 28)
    assert leaf.ports_available == 1536 * 64 and spine.ports_available == 128 * 576
    # every ToR holds two whole 8-GPU servers (a rack), not a rail
    fabric = build_fabric(design_fabric(load_scenario(LLAMA3)))
    assert np.array_equal(fabric.endpoint_leaf, np.arange(24576) // 16)
    # the aggregation layer carries 1/7 of the pods' bandwidth: bisection = 8 pods x 16 x 28 x 400G / 2
    assert plan.bisection_bits_per_s == pytest.approx(128 * 28 * 400e9 / 2)


def test_llama3_counted_and_materialised_plans_agree():
    design = design_fabric(load_scenario(LLAMA3))
    counted = plan_design(design).to_dict()
    materialised = plan_design(design, build_fabric(design)).to_dict()
    counted.pop("counted_from"), materialised.pop("counted_from")
    assert counted == materialised


def test_llama3_cross_pod_flow_climbs_to_the_aggregation_layer():
    fabric = build_fabric(design_fabric(load_scenario(LLAMA3)))
    routed = route(fabric, np.array([0, 0, 0]), np.array([8, 100, 20000]), "ecmp")
    tiers = [sorted(set(routed.arc_block[routed.incidence[i].indices])) for i in range(3)]
    assert tiers[0] == [0]  # same ToR (the other server of the rack)
    assert tiers[1] == [0, 1]  # same pod: ToR - cluster switch - ToR
    assert tiers[2] == [0, 1, 2]  # another pod: up to the aggregation layer


def test_per_tier_link_speed_splits_the_leaf_by_bandwidth():
    # B300-style Spectrum-X: 2 x 400G per GPU on two planes, 800G leaf-spine. An SN5600 leaf (51.2T) offers
    # 64 x 400G down and 32 x 800G up.
    scenario = scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 512, "nic": "connectx-8",
                                               "scale_out_per_gpu": "800G"},
                                   "fabric": {"switch": "spectrum-4", "transport": "roce", "planes": 2,
                                              "link_speeds": {"spine": "800G"}}})
    plan = plan_scenario(scenario)
    leaf, spine = plan.tier_lines
    assert (leaf.down_ports, leaf.up_ports) == (64, 32)
    assert leaf.link_bits_per_s == 400e9 and spine.link_bits_per_s == 800e9
    assert (leaf.switches, spine.switches) == (16, 8)
    assert spine.links == 512
    fabric = build_fabric(design_fabric(scenario))
    assert set(np.unique(fabric.link_capacity_bits_per_s[fabric.link_tier == 2])) == {800e9}


def test_nvl72_trays_come_from_the_scale_up_system():
    gb300 = scenario_from_dict({"cluster": {"gpu": "gb300", "gpus": 1_048_576},
                                "fabric": {"switch": "tomahawk6", "transport": "roce", "planes": 4}})
    assert gb300.cluster.gpus_per_server == 4
    assert plan_scenario(gb300, materialise=False).servers == 262_144
    # an explicit figure wins
    pinned = scenario_from_dict({"cluster": {"gpu": "gb300", "gpus": 1152, "gpus_per_server": 8}})
    assert pinned.cluster.gpus_per_server == 8
    assert scenario_from_dict({}).cluster.gpus_per_server == 8


def test_port_budget_split_matches_the_textbook_and_the_mixed_case():
    assert PortBudget.uniform(64).split(1.0) == (32, 32, 64)
    assert PortBudget.uniform(64).split(3.0) == (48, 16, 64)
    mixed = PortBudget(51.2e12, 400e9, 800e9, 128, 64)
    assert mixed.split(1.0) == (64, 32, 96)
    assert mixed.split(1.0, downlinks=16) == (16, 8, 16 + 56)


def test_bad_shapes_name_the_field():
    with pytest.raises(FabricsimError, match="fabric.downlinks"):
        design_fabric(scenario_from_dict({"fabric": {"downlinks": [60]}}))
    with pytest.raises(FabricsimError, match="fabric.link_speeds.spine=1.6T"):
        design_fabric(scenario_from_dict({"fabric": {"link_speeds": {"spine": "1.6T"}}}))
    with pytest.raises(FabricsimError, match="fabric.switches.spine"):
        scenario_from_dict({"fabric": {"switches": {"spine": "quantum-3"}}})
    with pytest.raises(FabricsimError, match="fabric.downlinks"):
        scenario_from_dict({"fabric": {"downlinks": [16, 192, 4]}})


def test_hpn_dual_tor_pod_by_hand():
    # 15 segments x 8 rails x 2 planes (dual-ToR) = 240 ToRs of 128 x 200G down and 64 x 400G up;
    # 64 aggregation switches per plane, each 120 ToRs below it and 8 uplinks (15:1)
    plan = plan_scenario(load_scenario("examples/hpn-15k-dual-tor.yaml"))
    leaf, spine, _ = plan.tier_lines
    assert plan.gpus_per_segment == 1024 and plan.gpus_per_pod == 15360 and plan.pods == 1
    assert (leaf.switches, leaf.down_ports, leaf.up_ports) == (240, 128, 64)
    assert (spine.switches, spine.down_ports, spine.up_ports, spine.oversubscription) == (128, 120, 8, 15.0)
    assert plan.nic_ports == 2 * 15360 and plan.gpu_planes == 2


def test_dual_tor_turns_a_tor_failure_into_a_slowdown():
    from fabricsim.reliability.from_plan import network_stops

    scenario = load_scenario("examples/hpn-15k-dual-tor.yaml")
    stops = network_stops(plan_scenario(scenario, materialise=False), scenario.reliability)
    assert stops["switch"] is False and stops["nic_optics"] is False  # a 200G module per NIC port


def test_rail_only_is_planned_by_counts_and_saves_the_spine_layer():
    base = {"cluster": {"gpus": 32768}, "fabric": {"switch": "tomahawk5", "transport": "roce"}}
    rail_only = scenario_from_dict({**base, "fabric": {**base["fabric"], "rail_only": True}})
    plan = plan_scenario(rail_only)
    assert plan.counted_from == "arithmetic counts" and plan.rail_only
    # 8 rails, each a 2-tier fat-tree of 4,096 servers' NICs at 400G on 128-port switches: 64 leaves, 32 spines
    assert [t.switches for t in plan.tier_lines] == [8 * 64, 8 * 32]
    fat = plan_scenario(scenario_from_dict(base), materialise=False)
    assert fat.tiers == 3 and fat.switches == 1280
    # Wang et al. 2023 (rail-only networks) claim 38-77 % less network cost than a rail-optimized fat-tree
    def network(p):
        return p.capex_usd["switches"] + p.capex_usd["optics_and_cables"]
    assert 0.38 < 1 - network(plan) / network(fat) < 0.77
    with pytest.raises(FabricsimError, match="rail-only fabric is planned by counts only"):
        build_fabric(design_fabric(rail_only))


def test_first_generation_cpo_switch_plans_with_co_packaged_switch_ports():
    scenario = scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 8192, "nic": "connectx-8",
                                               "scale_out_per_gpu": "800G"},
                                   "fabric": {"switch": "tomahawk5-cpo", "transport": "roce", "optics": "cpo"}})
    plan = plan_scenario(scenario, materialise=False)
    assert all("cpo-800g" in t.media for t in plan.tier_lines)
    cpo = [m for m in plan.media_lines if m.kind == "cpo"]
    assert cpo and all(m.modules == m.units // 8 for m in cpo)  # eight 800G ports per 6.4T engine
