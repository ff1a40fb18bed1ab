"""TCO arithmetic by hand, and the network's share of cost and power against the seeds."""

import pytest

from fabricsim.economics import HOURS_PER_YEAR, bandwidth_tax, total_cost_of_ownership, usd_per_million_tokens
from fabricsim.errors import FabricsimError
from fabricsim.plan import plan_scenario
from fabricsim.scenario import scenario_from_dict


@pytest.fixture(scope="module")
def default():
    scenario = scenario_from_dict({})
    return scenario, plan_scenario(scenario, materialise=False)


def test_tco_by_hand(default):
    scenario, plan = default
    tco = total_cost_of_ownership(plan, scenario.economics)
    capex = sum(plan.capex_usd.values())
    energy = sum(plan.power_w.values()) * 1.25 / 1e3 * HOURS_PER_YEAR * 0.08
    assert tco.amortisation_usd_per_year == pytest.approx(capex / 4)
    assert tco.energy_usd_per_year == pytest.approx(energy)
    assert tco.usd_per_gpu_hour == pytest.approx((capex / 4 + energy) / (16384 * HOURS_PER_YEAR))
    # an H100-class cluster costs a few dollars per GPU-hour to own
    assert 1.0 < tco.usd_per_gpu_hour < 4.0


def test_network_share_of_capex_is_in_the_seeds_range(default):
    """Seed 001: networking is 10-15% of cluster cost (scale-out network here; with NVLink it is more)."""
    scenario, plan = default
    scale_out = plan.network_share(plan.capex_usd, include_scale_up=False)
    assert 0.08 < scale_out < 0.25


def test_bandwidth_tax_and_cost_per_token(default):
    scenario, plan = default
    tco = total_cost_of_ownership(plan, scenario.economics)
    tax = bandwidth_tax(tco, slow_step_s=10.0, fast_step_s=8.0)
    assert tax.wasted_share == pytest.approx(0.2)
    assert tax.usd_per_year == pytest.approx(0.2 * tco.usd_per_year)
    assert bandwidth_tax(tco, 8.0, 10.0).usd_per_year == 0.0
    per_m = usd_per_million_tokens(tco, tokens_per_s=2.0e6)
    assert per_m == pytest.approx(tco.usd_per_year / (HOURS_PER_YEAR * 3600) / 2.0)
    with pytest.raises(FabricsimError):
        usd_per_million_tokens(tco, 0)


def test_interconnect_power_share_reaches_the_seeds_30_percent_only_with_optical_scale_up(default):
    """Seed 000: interconnect draws roughly 30% of cluster power.  With copper NVLink domains the plan's share is
    about half that (NVLink switches, NICs, switches, optics and cables over IT power: 15.3% on the default 16,384 H100
    cluster); the seed's figure emerges when the scale-up fabric itself goes optical (GB200 NVL576)."""
    from fabricsim.validation.runner import COST_METRICS

    _, plan = default
    share = plan.network_share(plan.power_w)
    assert COST_METRICS["network_power_share"](plan) == pytest.approx(share)
    by_hand = sum(plan.power_w[k] for k in ("scale_up_fabric", "nics", "switches", "optics_and_cables"))
    assert share == pytest.approx(by_hand / sum(plan.power_w.values()))
    assert 0.12 < share < 0.20
    nvl576 = plan_scenario(scenario_from_dict({"cluster": {"gpu": "gb200", "gpus": 4608, "scale_up": "gb200-nvl576"}}),
                           materialise=False)
    assert 0.25 < nvl576.network_share(nvl576.power_w) < 0.35
    assert nvl576.power_w["scale_up_fabric"] / sum(nvl576.power_w.values()) > 0.15
