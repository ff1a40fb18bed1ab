"""Optics and cables counted as bought: modules serve every link of their cage, cables follow connectors."""

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.plan import plan_scenario
from fabricsim.scenario import load_scenario, scenario_from_dict


def _tier(plan, name):
    return {t.tier: t for t in plan.tier_lines}[name]


def _lines(plan, tier):
    return {m.name: m for m in plan.media_lines if m.tier == tier and m.kind != "fiber"}


def test_twin_port_switch_modules_serve_two_ndr_links():
    # one DGX H100 SU: 256 single-port 400G modules on the NICs, 128 twin-port 800G modules in the leaves
    plan = plan_scenario(scenario_from_dict({"cluster": {"gpus": 256}}))
    leaf = _lines(plan, "leaf")
    assert sorted((m.units, m.links_per_unit) for m in leaf.values()) == [(128, 2), (256, 1)]
    assert _tier(plan, "leaf").modules == 384 and _tier(plan, "leaf").cables == 256
    # leaf-spine: 256 links x 2 ends / 2 links per twin-port module
    assert _tier(plan, "spine").modules == 256
    assert plan.optical_ends == 2 * 256 + 2 * 256
    assert plan.optical_modules == 384 + 256


def test_module_power_and_price_are_per_module_not_per_link():
    scenario = scenario_from_dict({"cluster": {"gpus": 1024}, "fabric": {"media": {"spine": "dsp-800g"}}})
    plan = plan_scenario(scenario)
    spine = _lines(plan, "spine")["dsp-800g"]
    medium = scenario.catalog().medium("dsp-800g")
    assert spine.units == 1024  # 1,024 links x 2 ends / 2 links per module
    assert spine.power_w == pytest.approx(1024 * medium.power_w)
    assert spine.price_usd == pytest.approx(1024 * medium.price_usd)


def test_four_planes_of_200g_share_one_nic_module_and_one_1_6t_switch_module_per_eight_links():
    plan = plan_scenario(load_scenario("examples/1m-gb300-tomahawk6-4planes.yaml"), materialise=False)
    assert plan.servers == 262_144  # GB300 NVL72: 4 GPUs per compute tray
    leaf = _lines(plan, "leaf")
    nic_side = [m for m in leaf.values() if m.links_per_unit == 4]
    switch_side = [m for m in leaf.values() if m.links_per_unit == 8]
    assert nic_side and nic_side[0].units == 1_048_576  # one 800G module per ConnectX-8 port
    assert switch_side and switch_side[0].units == 4 * 1_048_576 // 8
    # optical modules per GPU: 1 NIC-side + 0.5 leaf-side + 2 x 0.5 per higher tier
    assert plan.optical_modules / plan.gpus == pytest.approx(1 + 0.5 + 0.5 * 2 + 0.5 * 2, rel=0.01)


def test_copper_splitter_serves_two_nic_ports_from_one_switch_cage():
    plan = plan_scenario(scenario_from_dict({"cluster": {"gpus": 1024}, "layout": {"host_to_leaf_m": 1.5}}))
    leaf = _lines(plan, "leaf")
    assert list(leaf) == ["dac-800g"]
    assert leaf["dac-800g"].units == 512 and leaf["dac-800g"].links_per_unit == 2
    assert _tier(plan, "leaf").cables == 512


def test_a_twin_port_400g_module_cannot_carry_an_800g_link():
    with pytest.raises(FabricsimError, match="fabric.media.spine='dsp-800g'"):
        plan_scenario(scenario_from_dict({"cluster": {"gpu": "gb300", "gpus": 576, "scale_up": "hgx-b300-8"},
                                          "fabric": {"switch": "quantum-x800", "media": {"spine": "dsp-800g"}}}))


def test_cpo_modules_are_optical_engines_shared_by_several_ports():
    plan = plan_scenario(scenario_from_dict({"cluster": {"gpu": "gb300", "gpus": 4608},
                                             "fabric": {"switch": "quantum-x800-cpo", "optics": "cpo"}}))
    spine = _lines(plan, "spine")["cpo-800g"]
    assert spine.units == 2 * _tier(plan, "spine").links and spine.modules == spine.units // 8
    leaf = _lines(plan, "leaf")
    assert "cpo-800g" in leaf and any(m.kind == "dsp" for m in leaf.values())  # the NIC end stays pluggable
