"""DeepSpeed's 2021 ZeRO-3 coordinator (fabricsim.workload.zero3_fetch): counts and times by hand."""

from types import SimpleNamespace

import pytest

from fabricsim.catalog.loader import load_catalog
from fabricsim.errors import FabricsimError
from fabricsim.workload.layers import dense_layer_gemms
from fabricsim.workload.zero3_fetch import FetchModule, coordinate, layer_modules


def profile(**overrides):
    base = dict(zero3_prefetch_elements=5e7, zero3_max_live_elements=1e9, zero3_max_reuse_distance=1e9,
                zero3_host_s_per_call=0.0, zero3_host_s_per_rank=0.0, kernel_overhead_s=0.0)
    base.update(overrides)
    return SimpleNamespace(**base)


def free(_elements):
    return 0.0


def test_gathers_follow_reuse_distance():
    """One layer of two modules, recomputed: forward f0 f1, recompute r0 r1, backward b1 b0.  With an
    unbounded reuse distance nothing is released after the first gather; with a reuse distance of
    one element only module 1 (recompute r1 then backward b1 at once) stays, so module 0 is
    gathered three times and module 1 twice."""
    modules = [FetchModule(100.0, (), 0.0, 0.0), FetchModule(100.0, (), 0.0, 0.0)]
    keep = coordinate(modules, 1, 1, 8, free, free, profile(zero3_max_reuse_distance=1e12))
    assert keep.gathers == 2
    tight = coordinate(modules, 1, 1, 8, free, free, profile(zero3_max_reuse_distance=1.0))
    assert tight.gathers == 5
    assert tight.reduce_scatters == 2  # one gradient per gathered weight
    no_recompute = coordinate(modules, 1, 0, 8, free, free, profile(zero3_max_reuse_distance=1.0))
    assert no_recompute.gathers == 3  # f0, f1 (kept for b1 right after), b0


def test_host_work_is_linear_in_ranks_and_fully_exposed_without_compute():
    """No compute, no transfer: every collective's host work is GPU idle time,
    (gathers + reduce-scatters) x (per call + ranks x per rank)."""
    modules = [FetchModule(1e6, (10.0, 20.0), 0.0, 0.0)]
    p = profile(zero3_host_s_per_call=1e-4, zero3_host_s_per_rank=1e-5, zero3_max_reuse_distance=0.0)
    for ranks in (100, 1000):
        t = coordinate(modules, 2, 2, ranks, free, free, p)
        calls = t.gathers + t.reduce_scatters
        assert t.gathers == 2 * 3 and t.reduce_scatters == 2 * 3  # per layer: f, r, b gathers; weight + 2 persistent
        assert t.exposed_s == pytest.approx(calls * (1e-4 + ranks * 1e-5))
        # after the step the 4 persistent parameters are gathered rank by rank in Python
        assert t.post_step_s == pytest.approx(4 * ranks * 1e-5 + 1e-4)


def test_prefetched_gather_hides_under_the_current_module():
    """Two modules of 5 ms forward, no backward compute, 2 ms gathers, reuse distance 0 (every use
    re-gathers): trace f0 f1 b1 b0.  f0's gather waits (2 ms); f1's is prefetched under f0's compute;
    b1's is issued after f1's release and waits (2 ms); b0's is prefetched during f1.  So 4 ms exposed,
    4 ms hidden.  Below one module's weights of live-parameter budget nothing is prefetched: 8 ms exposed."""
    modules = [FetchModule(1e6, (), 5e-3, 0.0), FetchModule(1e6, (), 5e-3, 0.0)]
    t = coordinate(modules, 1, 0, 8, lambda e: 2e-3, free, profile(zero3_max_reuse_distance=0.0))
    assert t.gathers == 4
    assert t.exposed_s == pytest.approx(4e-3)
    assert t.collective_s == pytest.approx(4e-3)
    assert t.hidden_s == pytest.approx(4e-3)
    blocked = coordinate(modules, 1, 0, 8, lambda e: 2e-3, free,
                         profile(zero3_max_reuse_distance=0.0, zero3_max_live_elements=5e5))
    assert blocked.gathers == 4
    assert blocked.exposed_s == pytest.approx(8e-3)
    assert blocked.hidden_s == pytest.approx(0.0)


def test_layer_modules_split_persistent_parameters_and_compute():
    """GPT-3 175B: four weight matrices are gathered; biases (3h, h, 4h, h) and the two LayerNorms'
    gains and biases stay below DeepSpeed's 1e5-element threshold; compute shares add up."""
    model = load_catalog().get("models", "gpt3-175b")
    gemms = dense_layer_gemms(model, 1, 1)
    h = model.hidden_size
    modules = layer_modules(gemms, [3.0, 1.0, 4.0, 4.0], 12.0, 24.0, h, True, 1e5)
    assert [m.gathered for m in modules] == [3 * h * h, h * h, 4 * h * h, 4 * h * h]
    assert sorted(p for m in modules for p in m.persistent) == sorted([3 * h, h, h, h, 4 * h, h, h, h])
    assert sum(m.forward_s for m in modules) == pytest.approx(12.0)
    assert modules[0].backward_s == pytest.approx(6.0)


def test_bad_input_is_refused():
    with pytest.raises(FabricsimError, match="at least one rank"):
        coordinate([], 1, 0, 8, free, free, profile())
