"""Bad input raises FabricsimError naming the field and the value."""

from __future__ import annotations

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.reliability import (
    LLAMA3_COUNTS,
    CheckpointPolicy,
    ComponentCounts,
    checkpoint_bytes,
    counts_for_gpu_cluster,
    failure_rates,
    simulate_run,
    young_interval,
)


def _policy(**kw):
    base = dict(size_bytes=1e12, write_bytes_per_s=1e11)
    base.update(kw)
    return CheckpointPolicy(**base)


@pytest.mark.parametrize("value", [-1e-6, 0.0, float("nan"), float("inf"), "fast"])
def test_bad_rate_override(value):
    with pytest.raises(FabricsimError, match="gpu"):
        failure_rates(LLAMA3_COUNTS, rates={"gpu": value})


def test_unknown_class_lists_valid_ones():
    with pytest.raises(FabricsimError) as exc:
        failure_rates(LLAMA3_COUNTS, rates={"gpus": 1e-6})
    msg = str(exc.value)
    assert "'gpus'" in msg and "transceiver" in msg and "job" in msg
    with pytest.raises(FabricsimError, match="optic"):
        simulate_run(LLAMA3_COUNTS, _policy(), 1, runs=2, stops_job={"optic": False})
    with pytest.raises(FabricsimError, match="degraded_step_factor"):
        simulate_run(LLAMA3_COUNTS, _policy(), 1, runs=2, degraded_step_factor={"switch": 0.5})


def test_zero_storage_bandwidth():
    with pytest.raises(FabricsimError, match=r"write_bytes_per_s=0"):
        _policy(write_bytes_per_s=0)
    with pytest.raises(FabricsimError, match="read_bytes_per_s"):
        _policy(read_bytes_per_s=-1)


def test_interval_longer_than_run():
    with pytest.raises(FabricsimError, match=r"interval_s=.*longer than the run"):
        simulate_run(LLAMA3_COUNTS, _policy(interval_s=3 * 86400.0), 2, runs=2)


@pytest.mark.parametrize(
    "kwargs,field",
    [({"blocking_fraction": 1.5}, "blocking_fraction"), ({"interval_s": 0}, "interval_s"),
     ({"job_restart_s": -5}, "job_restart_s"), ({"spare_hosts": -1}, "spare_hosts"), ({"size_bytes": 0}, "size_bytes")],
)
def test_bad_policy_fields(kwargs, field):
    with pytest.raises(FabricsimError, match=field):
        _policy(**kwargs)


def test_bad_run_arguments():
    with pytest.raises(FabricsimError, match="days"):
        simulate_run(LLAMA3_COUNTS, _policy(), 0, runs=2)
    with pytest.raises(FabricsimError, match="runs"):
        simulate_run(LLAMA3_COUNTS, _policy(), 1, runs=0)
    with pytest.raises(FabricsimError, match="planned_per_day"):
        simulate_run(LLAMA3_COUNTS, _policy(), 1, runs=2, planned_per_day=-1)


def test_bad_counts_and_sizes():
    with pytest.raises(FabricsimError, match="gpus"):
        ComponentCounts(gpus=-1, hosts=0, nics=0, switches=0, scale_up_switch_chips=0)
    with pytest.raises(FabricsimError, match="switch_optics"):
        ComponentCounts(gpus=1, hosts=0, nics=0, switches=0, scale_up_switch_chips=0, switch_optics={"x": -2})
    with pytest.raises(FabricsimError, match="gpus"):
        counts_for_gpu_cluster(0)
    with pytest.raises(FabricsimError, match="radix"):
        counts_for_gpu_cluster(100, switch_radix=3)
    with pytest.raises(FabricsimError, match="parameters"):
        checkpoint_bytes(-5)
    with pytest.raises(FabricsimError, match="mtbi_s"):
        young_interval(10, 0)
