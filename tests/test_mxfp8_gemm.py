"""Block-scaled MXFP8 GEMMs (one E8M0 scale per 32 elements) at the GPU's ``mxfp8_matmul_ratio`` of the per-tensor
FP8 rate its MAMF measures: only under the mxfp8 recipe, only where FP8 tensor cores run the GEMM."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.gemm import gemm_seconds, rates_for

CATALOG = default_catalog()


def test_mxfp8_runs_at_the_block_scaled_share_of_per_tensor_fp8():
    b200 = CATALOG.gpu("b200")
    tensorwise, mxfp8 = rates_for(b200, "fp8", 1.0, "tensorwise"), rates_for(b200, "fp8", 1.0, "mxfp8")
    assert b200.mxfp8_matmul_ratio == 0.951
    assert mxfp8.ceiling == pytest.approx(0.951 * tensorwise.ceiling, rel=1e-12)
    big = (8192, 8192, 8192)  # compute-bound: the time scales by the ratio's inverse
    assert float(gemm_seconds(*big, mxfp8)) == pytest.approx(float(gemm_seconds(*big, tensorwise)) / 0.951, rel=1e-9)
    # BF16, FP4, no recipe: untouched; on A100 (no FP8 tensor cores) FP8 runs as BF16 whatever the recipe
    assert rates_for(b200, "bf16", 1.0, "mxfp8") == rates_for(b200, "bf16")
    assert rates_for(b200, "fp4", 1.0, "mxfp8") == rates_for(b200, "fp4")
    a100 = CATALOG.gpu("a100-sxm")
    assert rates_for(a100, "fp8", 1.0, "mxfp8") == rates_for(a100, "fp8")
    # Hopper has no MXFP8 entry: its ratio is 1
    h100 = CATALOG.gpu("h100-sxm")
    assert rates_for(h100, "fp8", 1.0, "mxfp8") == rates_for(h100, "fp8")


def test_a_training_layer_charges_mxfp8_gemms_the_block_scaled_rate():
    """The same B200 job under the tensorwise and the mxfp8 recipe: the layers' GEMM seconds differ by the ratio (the
    compute-bound GEMMs of an 8B model at 8K tokens), the BF16 output head not at all."""
    job = dict(model="llama3-8b", tp=1, pp=1, dp=8, global_batch=64, micro_batch=1, seq=8192, precision="fp8",
               recompute="none", gradient_reduce_bytes=2)
    scenario = scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 8}})
    results = {recipe: train(scenario, fp8_recipe=recipe, **job) for recipe in ("tensorwise", "mxfp8")}
    layers = {k: sum(s for g, s, _ in r.stage.gemms if g.name != "output head") for k, r in results.items()}
    head = {k: sum(s for g, s, _ in r.stage.gemms if g.name == "output head") for k, r in results.items()}
    assert layers["mxfp8"] / layers["tensorwise"] == pytest.approx(1 / 0.951, rel=0.02)
    assert head["mxfp8"] == pytest.approx(head["tensorwise"], rel=1e-9)
