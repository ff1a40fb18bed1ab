"""gpt-oss's eager expert epilogues in Megatron-Core's grouped MLP (the GLU clamp and the per-expert output bias):
hand-counted bytes and kernels, and their place in the layer (gone under the fused grouped MLP)."""

from types import SimpleNamespace

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.workload.compute import Shape, layer_work
from fabricsim.workload.expert_epilogue import eager_expert_epilogue

CATALOG = default_catalog()
GPT_OSS = CATALOG.get("models", "gpt-oss-120b")
QWEN = CATALOG.get("models", "qwen3-30b-a3b")
PROFILE = CATALOG.get("software", "megatron-core-2025")
GB200 = CATALOG.get("gpus", "gb200")


def _model(clamp, bias):
    return SimpleNamespace(expert_ffn_hidden_size=100, hidden_size=50, activation_clamp=clamp, expert_bias=bias)


def test_clamp_bytes_and_kernels_by_hand():
    """FC1 output 2 x 100 wide over 1,000 rows = 200,000 elements: 8 B forward (two clamps 4 B per half element, the
    cat 4 B per element) = 1.6 MB, 10 B backward (two masks 6 B per half element, the gradient cat 4 B) = 2.0 MB,
    3 kernels each way; the forward is what moe_act recomputation repeats."""
    work = eager_expert_epilogue(_model(7.0, False), 1000.0, 1, 4)
    assert (work.forward_bytes, work.backward_bytes, work.rerun_bytes) == (1_600_000, 2_000_000, 1_600_000)
    assert (work.forward_kernels, work.backward_kernels) == (3, 3)


def test_bias_bytes_and_kernels_by_hand():
    """FC2 output 50 wide over 1,000 rows = 50,000 elements, 12 B each way = 600 kB; 4 local experts: 2 x 4 + 1 (cat)
    kernels forward, 4 x 4 backward; nothing for recomputation (outside the moe_act function)."""
    work = eager_expert_epilogue(_model(None, True), 1000.0, 1, 4)
    assert (work.forward_bytes, work.backward_bytes, work.rerun_bytes) == (600_000, 600_000, 0)
    assert (work.forward_kernels, work.backward_kernels) == (9, 16)


def test_expert_tensor_parallelism_narrows_the_clamped_width():
    assert eager_expert_epilogue(_model(7.0, False), 1000.0, 2, 4).forward_bytes == 800_000


def test_models_without_clamp_or_bias_have_no_epilogue():
    work = eager_expert_epilogue(QWEN, 65536.0, 1, 16)
    assert (work.forward_bytes, work.backward_bytes, work.forward_kernels, work.backward_kernels) == (0, 0, 0, 0)


def _shape(**kw):
    """gpt-oss on one GPU of EP64: 16,384 tokens, 2 local experts with 32,768 rows each (65,536 copies), BF16."""
    return Shape(16384.0, 4096, 4, 1, False, "bf16", 64, 1, 32768.0, 65536.0, None, **kw)


def test_layer_memory_time_carries_the_epilogue_unless_the_mlp_is_fused():
    """The eager layer moves exactly the epilogue's bytes more than the same layer without them (catalog copy with
    neither clamp nor bias); under the fused grouped MLP the epilogue is in the GEMM epilogues (no difference)."""
    plain = GPT_OSS.model_copy(update={"activation_clamp": None, "expert_bias": False})
    work = eager_expert_epilogue(GPT_OSS, 65536.0, 1, 2)
    hbm = GB200.hbm_stream_bytes_per_s
    with_epilogue, without = (layer_work(m, GB200, _shape(), PROFILE, True) for m in (GPT_OSS, plain))
    assert with_epilogue.memory_forward - without.memory_forward == pytest.approx(work.forward_bytes / hbm)
    assert with_epilogue.memory_backward - without.memory_backward == pytest.approx(work.backward_bytes / hbm)
    fused = Shape(16384.0, 4096, 4, 1, False, "fp8", 64, 1, 32768.0, 65536.0, "mxfp8", fused_mlp=True)
    assert layer_work(GPT_OSS, GB200, fused, PROFILE, True).memory_forward == pytest.approx(
        layer_work(plain, GB200, fused, PROFILE, True).memory_forward)
