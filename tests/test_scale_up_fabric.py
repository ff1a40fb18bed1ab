"""Scale-up domains beyond one rack: switch tiers from the radix, optics for links between racks, their
power and cost, and what a bigger NVLink domain does to the network's power share and to collectives."""

import json

import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.plan import plan_scenario
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.design import design_fabric
from fabricsim.topology.scale_up_fabric import scale_up_fabric


def _scenario(scale_up, gpus, **fabric):
    return scenario_from_dict({"cluster": {"gpu": "gb200", "gpus": gpus, "scale_up": scale_up}, "fabric": fabric})


def test_nvl72_is_one_tier_of_18_chips_in_copper():
    su = scale_up_fabric(design_fabric(_scenario("gb200-nvl72", 144)))
    assert (su.tiers, su.planes, su.chips_per_domain, su.racks_per_domain) == (1, 18, 18, 1)
    assert su.across_rack_links_per_domain == 0 and su.optical_links == 0 and su.added_latency_s == 0
    plan = plan_scenario(_scenario("gb200-nvl72", 144), materialise=False)
    assert plan.scale_up_lines == [] and plan.scale_up_chips == 36


def test_nvl576_needs_a_second_tier_and_optics_between_racks():
    su = scale_up_fabric(design_fabric(_scenario("gb200-nvl576", 1152)))
    # 72-port chips cannot reach 576 GPUs in one tier: per plane 576/36 = 16 leaves + 576/72 = 8 spines
    assert su.tiers == 2 and su.chips_per_domain == 18 * (16 + 8) == 432
    # spines spread over the 8 racks: 7/8 of every leaf's 576 uplinks per plane leave its rack
    assert su.across_rack_links_per_domain == 18 * 576 * 7 // 8
    assert su.in_rack_links_per_domain == 18 * (576 + 576 // 8)
    assert su.added_latency_s > 0
    plan = plan_scenario(_scenario("gb200-nvl576", 1152), materialise=False)
    modules = [m for m in plan.scale_up_lines if m.kind != "fiber"]
    assert sum(m.units for m in modules) == 2 * 2 * 9072  # two domains, a module at both ends of every link
    assert plan.power_w["scale_up_fabric"] == pytest.approx(2 * 432 * 300 + sum(m.power_w for m in modules))


def test_optics_instead_of_copper_cost_an_nvl72_about_20_kw():
    """Seed 001: lighting the NVL72 NVLink spine with optics would draw ~20 kW per rack."""
    plan = plan_scenario(_scenario("gb200-nvl72", 72, copper_in_reach=False), materialise=False)
    power = sum(m.power_w for m in plan.scale_up_lines)
    assert power == pytest.approx(72 * 18 * 2 * 8.0)
    assert power == pytest.approx(20000, rel=0.25)


def test_ualink_1024_with_512_lane_switches_takes_two_tiers():
    scenario = scenario_from_dict({"cluster": {"gpus": 1024, "scale_up": "ualink-1024"}})
    su = scale_up_fabric(design_fabric(scenario))
    assert su.tiers == 2 and su.racks_per_domain == 16


def test_bigger_domain_raises_the_network_power_share_and_keeps_ep_inside_nvlink():
    nvl576 = plan_scenario(_scenario("gb200-nvl576", 4608), materialise=False)
    nvl72 = plan_scenario(_scenario("gb200-nvl72", 4608), materialise=False)
    assert nvl576.network_share(nvl576.power_w) > nvl72.network_share(nvl72.power_w) + 0.1
    lpo = plan_scenario(_scenario("gb200-nvl576", 4608, optics="lpo"), materialise=False)
    assert lpo.power_w["scale_up_fabric"] < nvl576.power_w["scale_up_fabric"]


def test_plan_on_the_nvl576_example():
    out = CliRunner().invoke(app, ["plan", "examples/nvl576-optical-scale-up.yaml", "--no-compare-optics"])
    assert out.exit_code == 0, out.output
    assert "scale-up fabric" in out.output and "2 tier(s)" in out.output
    out = CliRunner().invoke(app, ["plan", "examples/nvl576-optical-scale-up.yaml", "--no-compare-optics", "--json"])
    plan = json.loads(out.stdout)["plan"]
    assert plan["scale_up_tiers"] == 2 and {m["tier"] for m in plan["scale_up_lines"]} == {"scale-up across racks"}
