"""Failures the fabric reroutes around slow the job by what the simulator measures, not by a constant."""

from fabricsim.api import run
from fabricsim.reliability.degraded import degraded_factors
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario


def factors(**fabric):
    return degraded_factors(fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 4096}, "fabric": fabric})))


def test_one_failure_costs_nothing_on_a_non_blocking_fabric():
    assert factors(load_balancing="spray") == {"transceiver": 1.0, "cable": 1.0, "switch": 1.0}


def test_a_lost_spine_slows_an_oversubscribed_sprayed_fabric():
    slow = factors(load_balancing="spray", oversubscription=[3, 1])
    assert 1.01 < slow["switch"] < 1.5
    assert slow["transceiver"] <= slow["switch"]


def test_run_feeds_the_factors_to_the_reliability_model():
    scenario = scenario_from_dict({"cluster": {"gpus": 512}, "fabric": {"oversubscription": [3, 1], "load_balancing": "spray"},
                                   "reliability": {"runs": 20, "network_failures_stop_job": False}})
    result = run(scenario)
    assert any("rerouted fabric failures" in note for note in result.notes)
    stopping = run(scenario.model_copy(update={"reliability": scenario.reliability.model_copy(
        update={"network_failures_stop_job": True})}))
    # rerouting instead of stopping can only lengthen the interval between interruptions
    assert result.reliability.mtbi_s > stopping.reliability.mtbi_s
    # ...but running slowed until the repair (hours) can cost more than a restart (minutes)
    assert result.reliability.monte_carlo.degraded_loss_s.mean() > 0
    assert stopping.reliability.monte_carlo.degraded_loss_s.mean() == 0
