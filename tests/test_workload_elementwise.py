"""Eager vs fused elementwise chains (fabricsim.workload.elementwise), counted by hand for Llama 3 8B, and
checked against the one public pair of measurements that differs only in them: TorchTitan's eager and
torch.compile rows of the same job."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.validation.runner import Context, select_cases, workload_result
from fabricsim.workload.compute import Shape, layer_work
from fabricsim.workload.elementwise import layer_elementwise_bytes
from fabricsim.workload.elementwise import EAGER, FUSED

CATALOG = default_catalog()
TOKENS = 8192


def _shape(elementwise: str) -> Shape:
    return Shape(TOKENS, 8192, 1, 1, False, "bf16", elementwise=elementwise)


def test_eager_chains_move_the_bytes_their_ops_read_and_write():
    """Llama 3 8B (h 4096, 32 query heads and 8 KV heads of 128, FFN 14336), per token and layer, forward:
    two RMSNorms 2 x (36 - 4) h, rotary (20 - 4) x (32 + 8) x 128, SwiGLU (10 - 6) x 14336, the KV copies to
    every head 2 x 2 x (1024 + 4096) and the attention output's re-layout 2 x 2 x 4096 = 438,272 bytes more
    than the fused kernels."""
    model, profile = CATALOG.get("models", "llama3-8b"), CATALOG.get("software", "megatron-core-2025")
    eager_f, eager_b, _, _ = layer_elementwise_bytes(model, _shape("eager"), profile, False)
    fused_f, fused_b, _, _ = layer_elementwise_bytes(model, _shape("fused"), profile, False)
    assert (eager_f - fused_f) / TOKENS == 2 * 32 * 4096 + 16 * 5120 + 4 * 14336 + 4 * 5120 + 4 * 4096 == 438_272
    backward = 2 * (60 - 6) * 4096 + 16 * 5120 + 8 * 14336 + 4 * 5120 + 4 * 4096
    assert (eager_b - fused_b) / TOKENS == backward
    norm_only = layer_elementwise_bytes(model, _shape("eager-fused-norm"), profile, False)[0]
    assert (eager_f - norm_only) / TOKENS == 2 * 32 * 4096  # a fused norm takes back exactly the norms' share


def test_eager_chains_launch_their_ops_one_by_one():
    """Forward kernels: 8 per eager RMSNorm (float, pow, mean, add, rsqrt, mul, type_as, weight) instead of 1,
    3 per rotated tensor, 2 for SwiGLU, and 3 copies around attention: 2 x 7 + 5 + 1 + 3 = 23 more."""
    model, gpu = CATALOG.get("models", "llama3-8b"), CATALOG.gpu("h100-sxm")
    profile = CATALOG.get("software", "megatron-core-2025")
    eager = layer_work(model, gpu, _shape("eager"), profile, False)
    fused = layer_work(model, gpu, _shape("fused"), profile, False)
    per_kernel = profile.kernel_overhead_s
    assert (eager.launch_forward - fused.launch_forward) / per_kernel == pytest.approx(23)
    assert (EAGER.norm_kernels, FUSED.norm_kernels, EAGER.rotary_kernels) == (8, 1, 6)


def _tokens_per_s(case_id: str) -> tuple[float, float]:
    case = select_cases(case_id=case_id)[0]
    return case.published, workload_result(case.setup, Context(), "train", "train").tokens_per_s_per_gpu


@pytest.mark.parametrize("gpus", [8, 128])
def test_eager_over_compiled_throughput_follows_torchtitans_pair(gpus):
    """TorchTitan's eager and torch.compile rows (Llama 3.1 8B, FSDP, BF16; docs/performance.md at d4c86e3)
    differ only in how the elementwise chains run: published eager / compiled = 0.864 (8 GPUs) and 0.860
    (128 GPUs).  The model's ratio comes from the chains' bytes and kernels alone."""
    stem = f"torchtitan2412-llama31-8b-{gpus}-h100-fsdp-bf16"
    eager_published, eager_model = _tokens_per_s(stem)
    compiled_published, compiled_model = _tokens_per_s(stem + "-compile")
    assert eager_model / compiled_model == pytest.approx(eager_published / compiled_published, abs=0.03)
