"""Kernel-level validation cases (fabricsim.validation.kernel_cases): the time a layer charges for one grouped
linear, by hand, and the published microbenchmarks it is checked against."""

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.validation.runner import run_validation


def _setup(**gemm):
    from fabricsim.validation.cases import Setup

    return Setup(kind="gemm", scenario={"cluster": {"gpu": "h100-sxm", "gpus": 8}}, metric="flops_per_s", gemm=gemm)


def test_multi_stream_pays_one_gap_per_expert_gemm_by_hand():
    from fabricsim.catalog import default_catalog
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.validation.kernel_cases import gemm_flops_per_s
    from fabricsim.workload.gemm import gemm_seconds, rates_for

    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    catalog = default_catalog()
    gpu = catalog.get("gpus", "h100-sxm").model_copy(update={"sustained_compute_ratio": 1.0})
    gap = catalog.get("software", "megatron-core-2025").kernel_overhead_s
    rates = rates_for(gpu, "bf16")
    flops = 2.0 * 4096 * 768 * 2048 * 8
    for implementation, gaps in (("multi-stream", 8), ("grouped", 1)):
        expected = flops / (float(gemm_seconds(4096, 768, 2048, rates, 8)) + gaps * gap)
        got = gemm_flops_per_s(_setup(groups=8, m=4096, n=768, k=2048, implementation=implementation), scenario)
        assert got == pytest.approx(expected)
    with pytest.raises(FabricsimError, match="single GEMM has one group"):
        gemm_flops_per_s(_setup(groups=2, m=4096, n=768, k=2048, implementation="single"), scenario)
    with pytest.raises(FabricsimError, match="implementation='fused'"):
        gemm_flops_per_s(_setup(groups=2, m=4096, n=768, k=2048, implementation="fused"), scenario)


def test_a_list_of_shapes_is_timed_as_single_gemms_one_after_another():
    """``shapes``: a benchmark's summed time of a layer's GEMMs -- each a single GEMM with its own launch gap, the
    metric their FLOPs over the summed time (not the mean of their rates)."""
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.validation.kernel_cases import gemm_flops_per_s

    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    shapes = [[15872, 12288, 4096], [15872, 4096, 4096]]
    single = [gemm_flops_per_s(_setup(m=m, n=n, k=k, implementation="single"), scenario) for m, n, k in shapes]
    flops = [2.0 * m * n * k for m, n, k in shapes]
    expected = sum(flops) / sum(f / rate for f, rate in zip(flops, single))
    assert gemm_flops_per_s(_setup(shapes=shapes), scenario) == pytest.approx(expected, rel=1e-12)
    assert min(single) < expected < max(single)


def test_fp4_gemms_run_at_the_measured_cublaslt_rate_on_blackwell():
    """The two fitted FP4 figures: B200's 8,192^3 FP4 GEMM at cuBLASLt's measured 5,239 TFLOP/s and its 128 x 24,576 x
    1,536 GEMM at 745 TFLOP/s (both within 1%); the table's other five shapes, held out, within 25% under the static
    tile schedule and the per-kernel time (they ran 25-132% fast with stream-K and no fixed time); GB200, GB300 and
    B300 take B200's figures."""
    from fabricsim.catalog import default_catalog

    results = {r.case.id: r for r in run_validation(layer="kernels", match="cublaslt-mxfp4-*")}
    fitted = {"cublaslt-mxfp4-gemm-8192x8192x8192-b200", "cublaslt-mxfp4-gemm-128x24576x1536-b200"}
    for case_id in fitted:
        assert results[case_id].case.role == "fitted" and results[case_id].error == pytest.approx(0.0, abs=0.01)
    held_out = [r.error for case_id, r in results.items() if case_id not in fitted]
    assert len(held_out) == 5 and all(abs(error) < 0.25 for error in held_out)
    catalog = default_catalog()
    gpus = [catalog.get("gpus", g) for g in ("b200", "b300", "gb200", "gb300")]
    assert {(g.fp4_matmul_efficiency, g.fp4_gemm_stream_k, g.fp4_gemm_fixed_s) for g in gpus} == {(0.644, False, 5.83e-6)}


def test_kernel_cases_hold_their_published_microbenchmarks():
    results = {r.case.id: r for r in run_validation(layer="kernels")}
    assert results["te27-grouped-gemm-multistream-16x2048x768x2048-h100"].error == pytest.approx(0.0, abs=0.03)
    assert results["cublas-bf16-gemm-128256x4096xk256-b200"].error == pytest.approx(0.0, abs=0.06)
    # MXFP8 at the catalog's block-scaled share of per-tensor FP8 (0.951, fitted on B300's TE benchmark): -1% -> -6%
    assert results["flashinfer-mxfp8-gemm-8192x8192x4096-b200"].error == pytest.approx(-0.058, abs=0.01)
    # fewer output tiles than SMs: the model's split-K spreads K over the idle SMs, the measured kernel does not gain
    # that much -- a known miss, and its sign (the model optimistic) is part of what the case shows
    few_tiles = ("flashinfer-mxfp8-gemm-1024x4096x4096-b200", "vllm-cutlass-fp8-gemm-256x6144x4096-b200",
                 "vllm-cutlass-fp8-gemm-512x6144x4096-b200")
    assert all(0.15 < results[case_id].error < 0.30 for case_id in few_tiles)
    # DeepGEMM's H800 tables (28 shapes, decode to training): one grouped kernel over contiguous experts within 2%,
    # the family's median within 6%; the masked layout below 1,024 rows per group is a known optimistic miss
    deepgemm = {case_id: r for case_id, r in results.items() if case_id.startswith("deepgemm-fp8-")}
    assert len(deepgemm) == 28
    assert all(abs(r.error) < 0.02 for case_id, r in deepgemm.items() if "-contiguous-" in case_id)
    assert sorted(abs(r.error) for r in deepgemm.values())[13] < 0.06
    masked = [r for case_id, r in deepgemm.items() if "-masked-" in case_id and "x1024x4096x" not in case_id]
    assert all(0.15 < r.error < 0.40 for r in masked)
    # B200 MXFP8 grouped GEMMs at the 1,000 W limit run at ~0.73-0.80 of the full-clock model: near the factor the
    # training fit (sustained_compute_ratio 0.6907) finds, a known miss at the kernel layer's full-clock convention
    b200 = [results[f"torchao-mxfp8-grouped-{p}-b200"] for p in ("fwd-8x16384x2048x7168", "dgrad-8x16384x7168x2048")]
    assert all(0.20 < r.error < 0.45 for r in b200)
    # B300 in Transformer Engine's GEMM benchmark (15 held-out rows): every shape at or below the model, BF16 within 18%
    b300 = {case_id: r for case_id, r in results.items() if case_id.startswith("te217-gemm-b300-")}
    assert len(b300) == 15 and all(-0.05 < r.error for r in b300.values())
    assert all(r.error < 0.20 for case_id, r in b300.items() if "-bf16-" in case_id)
    known = set(few_tiles) | {r.case.id for r in masked} | {r.case.id for r in b200} | {
        "deepgemm-fp8-dense-64x7168x2048-h800", "deepgemm-fp8-dense-128x2112x7168-h800", "deepgemm-fp8-dense-4096x2112x7168-h800"} | {
        case_id for case_id, r in b300.items() if r.status == "miss"} | {
        case_id for case_id in results if case_id.startswith("cublaslt-mxfp4-") and "8192x8192x8192" not in case_id}
    assert all(r.status == "pass" for case_id, r in results.items() if case_id not in known)
