"""Optics families judged by failures, repair time, blast radius, goodput and yearly cost."""

import pytest

from fabricsim.economics import total_cost_of_ownership
from fabricsim.optics_choice import compare_optics_reliability
from fabricsim.plan import plan_design
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.design import design_fabric

SCENARIO = {"cluster": {"gpu": "gb300", "gpus": 4608}, "fabric": {"switch": "quantum-x800"}}


@pytest.fixture(scope="module")
def options():
    return {o.family: o for o in compare_optics_reliability(scenario_from_dict(SCENARIO), ("dsp", "lpo", "cpo"))}


def test_cpo_fails_less_but_repairs_take_hours_and_take_more_links_down(options):
    dsp, cpo = options["dsp"], options["cpo"]
    assert cpo.optics_failures_per_month < dsp.optics_failures_per_month / 2
    assert dsp.mean_repair_hours == pytest.approx(1.0)  # pluggables: swap in minutes, ~1 h with dispatch
    assert cpo.mean_repair_hours > 2 * dsp.mean_repair_hours  # an engine fault replaces the switch
    assert cpo.links_per_failure > 2 * dsp.links_per_failure


def test_lpo_has_no_dsp_to_fail(options):
    assert options["lpo"].optics_failures_per_month < options["dsp"].optics_failures_per_month
    assert options["lpo"].optics_power_w < options["dsp"].optics_power_w


def test_yearly_cost_is_optics_plus_lost_goodput(options):
    scenario = scenario_from_dict(SCENARIO)
    tco = total_cost_of_ownership(plan_design(design_fabric(scenario)), scenario.economics)
    dsp = options["dsp"]
    assert dsp.lost_goodput_usd_per_year == pytest.approx((1 - dsp.expected_goodput) * tco.usd_per_year)
    assert dsp.total_usd_per_year == pytest.approx(dsp.optics_usd_per_year + dsp.lost_goodput_usd_per_year)
    assert 0.5 < dsp.expected_goodput < 1


def test_a_family_without_parts_at_this_speed_reports_why():
    out = compare_optics_reliability(scenario_from_dict({"cluster": {"gpus": 512}, "fabric": {"switch": "minipack2",
                                                                                          "transport": "roce"}}),
                                     ("cpo",))
    assert out[0].error and "cpo" in out[0].error
