"""Checkpointing: size, Young/Daly against brute-force minimisation, spares."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from fabricsim.reliability import (
    CheckpointPolicy,
    checkpoint_bytes,
    daly_interval,
    exact_expected_wall_time,
    first_order_waste,
    spare_exhaustion_probability,
    young_interval,
)


def test_checkpoint_bytes_breakdown():
    assert checkpoint_bytes(1e9) == 14e9
    assert checkpoint_bytes(1e9, {"weights_bf16": 2, "grads_bf16": 2, "master": 4, "m": 4, "v": 4}) == 16e9
    # Llama 3 405B: 5.67 TB, 346 MB per GPU on 16,384 GPUs - inside Meta's "1 MB to 4 GB per GPU"
    per_gpu = checkpoint_bytes(405e9) / 16_384
    assert 1e6 < per_gpu < 4e9


def test_policy_times():
    p = CheckpointPolicy(size_bytes=4e12, write_bytes_per_s=2e12, blocking_fraction=0.25, job_restart_s=100,
                         rewarm_s=10, read_bytes_per_s=4e12)
    assert p.write_s == 2.0 and p.blocking_s == 0.5 and p.background_s == 1.5
    assert p.restart_s == pytest.approx(100 + 1 + 10)


@given(delta=st.floats(1.0, 600.0), mtbi=st.floats(1800.0, 86400.0 * 10))
@settings(max_examples=60, deadline=None)
def test_young_minimises_first_order_waste(delta, mtbi):
    res = minimize_scalar(lambda t: first_order_waste(t, delta, mtbi, 300.0), bounds=(1e-3, 50 * mtbi), method="bounded",
                          options={"xatol": 1e-6 * mtbi})
    assert young_interval(delta, mtbi) == pytest.approx(res.x, rel=1e-3)


@pytest.mark.parametrize("delta,mtbi", [(5.0, 3600.0), (60.0, 3600.0), (300.0, 6 * 3600.0), (300.0, 900.0), (2.8, 11_130.0)])
def test_daly_close_to_exact_optimum(delta, mtbi):
    f = lambda t: exact_expected_wall_time(1e6, t, delta, mtbi, 600.0)  # noqa: E731
    res = minimize_scalar(f, bounds=(1e-3, 20 * mtbi), method="bounded", options={"xatol": 1e-3})
    tau_d = daly_interval(delta, mtbi)
    # Daly's interval is within 2 % of the brute-force optimum, and costs < 0.1 % more wall time
    assert tau_d == pytest.approx(res.x, rel=0.02)
    assert f(tau_d) <= res.fun * 1.001
    # and it beats Young's interval on the exact model when delta/M is not small
    if delta / mtbi > 0.05:
        assert f(tau_d) < f(young_interval(delta, mtbi))


def test_daly_reference_values():
    # Daly 2006, Fig. 3: M = 24 h, delta = 5 min -> tau_opt ~ 117 min (restart excluded from tau)
    assert daly_interval(300.0, 86_400.0) / 60 == pytest.approx(117, abs=1.5)
    assert daly_interval(1000.0, 400.0) == 400.0


def test_spare_exhaustion():
    assert spare_exhaustion_probability(None, 1.0, 10.0) == 0.0
    assert spare_exhaustion_probability(0, 1.0, 10.0) == 1.0
    probs = [spare_exhaustion_probability(s, 0.3, 24.0) for s in range(0, 20)]
    assert all(a >= b for a, b in zip(probs, probs[1:]))
    assert probs[-1] < 1e-3
    # Poisson tail check
    from scipy.stats import poisson
    assert spare_exhaustion_probability(5, 0.3, 24.0) == pytest.approx(poisson.sf(4, 7.2))
    assert np.isfinite(probs).all()
