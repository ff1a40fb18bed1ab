"""Persistent GEMMs beside data-parallel collectives (fabricsim.workload.persistent_gemm)."""

import pytest
from hypothesis import given, strategies as st

from fabricsim.catalog import default_catalog
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.exposure import expose
from fabricsim.workload.persistent_gemm import mean_gemm_kernel_s, overlap_cost_s, stretch_s

CATALOG = default_catalog()
G = 1.0e-3  # one GEMM kernel, seconds


def test_a_window_shorter_than_a_gemm_delays_it_by_the_whole_window():
    """The waiting blocks start when the collective lets go of its SMs: 0.3 ms later than the rest."""
    assert stretch_s(0.3e-3, G) == pytest.approx(0.3e-3)
    assert stretch_s(G, G) == pytest.approx(G)


@pytest.mark.parametrize("gemms", [1, 2, 3, 5])
def test_gemms_inside_a_collective_take_twice_as_long(gemms):
    """pytorch/pytorch issue 143988 (H100, FSDP): the matmuls take 2x as long while an NCCL kernel runs beside
    them -- a window that holds n GEMMs end to end at doubled length costs n GEMMs."""
    assert stretch_s(2 * gemms * G, G) == pytest.approx(gemms * G)


def test_the_gemm_a_window_closes_in_is_late_by_what_is_left_of_it():
    """Hand values of the staircase: 1.5 g -> the first GEMM's waiting blocks start after its own g (late g);
    2.5 g -> first doubled (g), second launched at 2g waits the remaining 0.5 g; 3.5 g -> two doubled."""
    assert stretch_s(1.5 * G, G) == pytest.approx(G)
    assert stretch_s(2.5 * G, G) == pytest.approx(1.5 * G)
    assert stretch_s(3.5 * G, G) == pytest.approx(2 * G)


def test_a_classic_grid_pays_the_sm_share():
    """Without persistent GEMMs (Ampere's classic grids, Blackwell's dynamic tiles, a carve-out) the
    collective costs its SMs' share of the time it runs: 16 of 132 SMs for 10 ms."""
    assert overlap_cost_s(10e-3, 4, 0.8, G, 16 / 132, persistent=False) == pytest.approx(10e-3 * 16 / 132)
    # with no GEMMs under the window the persistent case is the same
    assert overlap_cost_s(10e-3, 4, 0.0, G, 16 / 132, persistent=True) == pytest.approx(10e-3 * 16 / 132)


def test_persistent_cost_splits_the_window_between_gemms_and_the_rest():
    """8 windows of 1.25 ms, 80% under GEMMs of 2 ms: each GEMM part (1 ms) is shorter than a GEMM, so it is
    lost whole (8 ms), and the other 20% pays the SM share: 8e-3 + 0.2 x 10e-3 x 16/132."""
    cost = overlap_cost_s(10e-3, 8, 0.8, 2e-3, 16 / 132, persistent=True)
    assert cost == pytest.approx(8e-3 + 0.2 * 10e-3 * 16 / 132)


@given(hidden=st.floats(1e-6, 1.0), windows=st.floats(1.0, 1000.0), gemm_share=st.floats(0.0, 1.0),
       gemm=st.floats(1e-6, 1e-1), share=st.floats(0.0, 0.5))
def test_overlap_never_costs_less_than_the_sm_share_or_more_than_serial(hidden, windows, gemm_share, gemm, share):
    """Bounds: the stretched GEMMs lose at least half the window they sit under (>= an SM share of at most
    one half) and never more than the window itself -- overlapping is never worse than not overlapping."""
    cost = overlap_cost_s(hidden, windows, gemm_share, gemm, share, persistent=True)
    assert share * hidden - 1e-12 <= cost <= hidden + 1e-12


@given(window=st.floats(0.0, 0.1), gemm=st.floats(1e-6, 1e-2), more=st.floats(0.0, 0.1))
def test_a_longer_window_never_costs_less(window, gemm, more):
    assert stretch_s(window + more, gemm) >= stretch_s(window, gemm) - 1e-15


def _fsdp_step(gpu: str):
    scenario = scenario_from_dict({"cluster": {"gpu": gpu, "gpus": 8}})
    return train(scenario, model="llama3-8b", tp=1, pp=1, dp=8, global_batch=16, micro_batch=1, seq=4096,
                 precision="bf16", zero=3, software="torchtitan-2024", recompute="none")


def test_fsdp_on_h100_pays_the_stretch_and_a_carve_out_takes_it_back():
    """An FSDP step on 8 H100: the per-layer gathers and reduce-scatters run beside cuBLAS's persistent GEMMs and
    cost more than their SMs' share; the same step with the GEMMs launched on the SMs the collective leaves
    (gemm_sm_carveout) pays the share, as the step did before this mechanism."""
    result = _fsdp_step("h100-sxm")
    gpu = CATALOG.get("gpus", "h100-sxm")
    assert gpu.gemm_static_persistent
    profile = CATALOG.get("software", "torchtitan-2024")
    hidden = result.exposure.hidden_per_micro["dp"]
    share = profile.comm_sms / gpu.sm_count
    assert hidden > 0
    assert result.exposure.slowdown_per_micro > 2 * share * hidden
    carved = profile.model_copy(update={"gemm_sm_carveout": True})
    again = expose(result.calls, result.stage, result.layout.layers[0], result.micro_batches, result.parallelism, gpu, carved,
                   None, 0.0, True)
    assert again.slowdown_per_micro == pytest.approx(share * hidden, rel=1e-6)
    assert again.hidden_per_micro["dp"] == pytest.approx(hidden)


def test_blackwell_fsdp_pays_only_the_sm_share():
    result = _fsdp_step("b200")
    gpu = CATALOG.get("gpus", "b200")
    assert not gpu.gemm_static_persistent
    share = CATALOG.get("software", "torchtitan-2024").comm_sms / gpu.sm_count
    assert result.exposure.slowdown_per_micro == pytest.approx(share * result.exposure.hidden_per_micro["dp"], rel=1e-6)


def test_mean_gemm_kernel_counts_forward_and_both_backward_gemms():
    """Llama 3 8B: 4 GEMMs a layer (QKV, attention out, fused gate+up, down) x 32 layers x 3, plus the output head x 3."""
    result = _fsdp_step("h100-sxm")
    assert result.stage.gemm_kernels == pytest.approx(3 * (4 * 32 + 1))
    assert mean_gemm_kernel_s(result.stage) == pytest.approx(result.stage.gemm_s / (3 * (4 * 32 + 1)))
