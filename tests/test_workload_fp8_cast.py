"""Bytes an FP8 cast moves per element follow the run's recipe (fabricsim.workload.compute.fp8_cast_bytes)."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.workload.fp8_casts import RECIPE_CAST_BYTES, fp8_cast_bytes


@pytest.fixture(scope="module")
def megatron():
    return default_catalog().get("software", "megatron-core-2025")


def test_recipe_bytes_by_hand():
    assert RECIPE_CAST_BYTES["delayed"] == 4.0  # read 2, write FP8 and its transpose 1 + 1
    assert RECIPE_CAST_BYTES["tensorwise"] == 6.0  # + an amax pass reading the BF16 input (2)
    assert RECIPE_CAST_BYTES["mxfp8"] == pytest.approx(4.0625)  # + one E8M0 byte per 32 elements, each copy
    assert RECIPE_CAST_BYTES["blockwise"] == pytest.approx(4.0625)  # + one FP32 scale per 128 elements, each copy


def test_a_run_that_chooses_another_recipe_pays_that_recipe_not_the_profiles(megatron):
    assert megatron.fp8_recipe == "tensorwise" and megatron.fp8_cast_bytes_per_element == 6.0
    assert fp8_cast_bytes(megatron, None) == 6.0
    assert fp8_cast_bytes(megatron, "tensorwise") == 6.0
    assert fp8_cast_bytes(megatron, "mxfp8") == pytest.approx(4.0625)  # no amax pass: scales come with the cast
    assert fp8_cast_bytes(megatron, "delayed") == 4.0


def test_mxfp8_layer_moves_fewer_cast_bytes_than_current_scaling():
    from fabricsim.workload.compute import Shape, layer_work

    catalog = default_catalog()
    model, gpu = catalog.get("models", "llama3-70b"), catalog.get("gpus", "gb200")
    profile = catalog.get("software", "megatron-core-2025")
    base = dict(tokens=8192.0, seq=8192, micro_batch=1, tp=4, sequence_parallel=True, precision="fp8")
    current = layer_work(model, gpu, Shape(**base, fp8_recipe="tensorwise"), profile, False)
    micro = layer_work(model, gpu, Shape(**base, fp8_recipe="mxfp8"), profile, False)
    assert micro.memory_forward < current.memory_forward and micro.memory_backward < current.memory_backward
    # the recipe also changes the GEMMs: block-scaled MXFP8 at the GPU's mxfp8_matmul_ratio of per-tensor FP8
    assert micro.gemm_forward == pytest.approx(current.gemm_forward / gpu.mxfp8_matmul_ratio, rel=0.02)
