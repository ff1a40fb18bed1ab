"""Capex, network share and $/M tokens as ranges from sourced prices; the tornado of price drivers."""

import pytest

from fabricsim.catalog.schema import Nic
from fabricsim.economics import total_cost_of_ownership, usd_per_million_tokens
from fabricsim.plan import plan_scenario
from fabricsim.price_ranges import cost_range, price_items
from fabricsim.scenario import scenario_from_dict


@pytest.fixture(scope="module")
def default():
    scenario = scenario_from_dict({"cluster": {"gpus": 2048}})
    return scenario, plan_scenario(scenario, materialise=False)


def test_middle_is_the_plan_capex_and_the_range_brackets_it(default):
    scenario, plan = default
    ranges = cost_range(plan, scenario)
    low, mid, high = ranges.capex_usd
    assert mid == pytest.approx(sum(plan.capex_usd.values()))
    assert low < mid < high
    assert ranges.scale_out_capex_share[0] < plan.network_share(plan.capex_usd, include_scale_up=False) \
        < ranges.scale_out_capex_share[2]
    # the quantity x price items rebuild every capex category
    by_category = {}
    for item in price_items(plan, scenario):
        by_category[item.category] = by_category.get(item.category, 0.0) + item.quantity * item.mid
    for category, value in plan.capex_usd.items():
        assert by_category.get(category, 0.0) == pytest.approx(value), category


def test_a_sourced_range_is_used_and_an_assumed_price_gets_the_wide_default(default):
    scenario, plan = default
    items = {i.label: i for i in price_items(plan, scenario)}
    switch = items["quantum-2 switch"]
    assert (switch.low, switch.high) == (36000, 50000) and "sourced range" in switch.basis
    server = items["h100-sxm server share"]
    assert server.low == pytest.approx(0.7 * server.mid) and "assumed" in server.basis


def test_tornado_is_the_widest_swings_first(default):
    scenario, plan = default
    ranges = cost_range(plan, scenario)
    swings = [d.capex_high_usd - d.capex_low_usd for d in ranges.tornado]
    assert len(swings) == 5 and swings == sorted(swings, reverse=True)
    assert ranges.tornado[0].label == "h100-sxm GPU"


def test_cost_per_million_tokens_range_includes_energy_and_goodput(default):
    scenario, plan = default
    ranges = cost_range(plan, scenario, tokens_per_s=1e6, goodput=0.9)
    tco = total_cost_of_ownership(plan, scenario.economics)
    assert ranges.usd_per_million_tokens[1] == pytest.approx(usd_per_million_tokens(tco, 1e6) / 0.9)
    assert ranges.usd_per_million_tokens[0] < ranges.usd_per_million_tokens[1] < ranges.usd_per_million_tokens[2]
    assert any(d.label == "energy price" for d in cost_range(plan, scenario, 1e6, 0.9, top=20).tornado)


def test_a_price_override_keeps_a_range_around_the_users_price():
    scenario = scenario_from_dict({"cluster": {"gpus": 512}, "economics": {"prices": {"quantum-2": 30000}}})
    items = {i.label: i for i in price_items(plan_scenario(scenario), scenario)}
    assert items["quantum-2 switch"].mid == 30000 and "user price" in items["quantum-2 switch"].basis


def test_a_range_that_does_not_bracket_the_price_is_rejected():
    with pytest.raises(ValueError, match="price_range_usd"):
        Nic(name="x", source="test", ports=1, port_bits_per_s=4e11, protocols=["roce"], power_w=20, price_usd=2000,
            price_range_usd={"price_usd": [2500, 3000]})
