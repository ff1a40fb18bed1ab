"""TensorRT-LLM 0.15's TensorRT-engine flow (software profile trtllm-2024): per-layer idle time of every iteration,
FP8 context attention, and the engine limits behind the trtllm015 validation cases, counted by hand."""

import math

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.validation.cases import load_cases
from fabricsim.workload.forward import forward_cost
from fabricsim.workload.trtllm_bench import engine_limits


@pytest.fixture(scope="module")
def catalog():
    return default_catalog()


def test_every_pass_pays_iteration_layer_s_per_layer(catalog):
    """A decode step and a prompt pass of Llama 3.1 8B (32 layers) each add 32 x iteration_layer_s of idle GPU
    time, 70B (80 layers) 80 x; the 2025 profiles pay none."""
    gpu, trt = catalog.get("gpus", "h100-sxm"), catalog.get("software", "trtllm-2024")
    assert trt.iteration_layer_s == pytest.approx(3.46e-5)
    for name in ("serving-2025", "trtllm-2025", "trtllm-2023"):
        assert catalog.get("software", name).iteration_layer_s == 0
    plain = trt.model_copy(update={"iteration_layer_s": 0.0})
    for model_name, layers in (("llama3-8b", 32), ("llama3-70b", 80)):
        model = catalog.get("models", model_name)
        for tokens, decode in ((384, True), (384 * 128, False)):
            with_it = forward_cost(model, gpu, trt, tokens, 128, 1, "fp8", 1, decode)
            without = forward_cost(model, gpu, plain, tokens, 128, 1, "fp8", 1, decode)
            assert with_it.launch_s - without.launch_s == pytest.approx(layers * 3.46e-5)
            assert with_it.gemm_s == without.gemm_s and with_it.attention_s == without.attention_s


def test_fp8_context_attention_runs_the_prompt_at_the_fp8_rate(catalog):
    """H100 attention efficiency: native 0.649, native-fp8 0.9735 of the BF16 peak on the same length curve (same
    sustained ratio), so an FP8 run with an FP8 KV cache spends 2/3 of the BF16-rate time on prompt attention; a BF16 KV cache, a decode
    step, or a GPU without an FP8 attention figure (A100) keeps the BF16 rate."""
    model = catalog.get("models", "llama3-8b")
    trt = catalog.get("software", "trtllm-2024")
    bf16_attention = trt.model_copy(update={"fp8_context_attention": False})
    h100 = catalog.get("gpus", "h100-sxm")

    def attention(profile, gpu=h100, kv_bytes=1, decode=False, tokens=2048 * 4):
        return forward_cost(model, gpu, profile, tokens, 2048, 1, "fp8", kv_bytes, decode).attention_s

    assert attention(trt) / attention(bf16_attention) == pytest.approx(0.649 / 0.9735)
    assert attention(trt, kv_bytes=2) == pytest.approx(attention(bf16_attention, kv_bytes=2))
    assert attention(trt, decode=True, tokens=64) == pytest.approx(attention(bf16_attention, decode=True, tokens=64))
    a100 = catalog.get("gpus", "a100-sxm")
    assert attention(trt, gpu=a100) == pytest.approx(attention(bf16_attention, gpu=a100))


def test_v015_engine_limits_and_case_batches_by_hand():
    """tuning.py on Llama 3.1 8B, one H100 (NVML 79.65 GiB), FP8 weights and KV (65,536 B/token), fraction 0.95:
    128/2048 fits 0.95 x (79.65 - 8.03) / (65,536 / 2^30 x 2,176) = 512.3 requests -> max_batch_size 640 (rounded
    up to 128s), max_num_tokens max(2,048, 512.3 x 1.0625 = 544 -> 2,048); 128/128 fits 4,354 -> capped 4,096,
    8,192 tokens.  The case batch is min(requests, max_batch_size, KV fit 0.95 x (80 - 8.03) GB / (65,536 B x 2,176)
    = 479)."""
    nvml = 85520809984
    gib = nvml / 2**30
    assert gib == pytest.approx(79.648, abs=1e-3)
    raw = 0.95 * (gib - 8.03) / (65536 / 2**30 * 2176)
    assert raw == pytest.approx(512.3, abs=0.1)
    assert engine_limits(8.03e9, 1, 65536, nvml, 1, 128, 2048, 0.95) == (640, 2048)
    assert engine_limits(8.03e9, 1, 65536, nvml, 1, 128, 128, 0.95) == (4096, 8192)
    fit = math.floor(0.95 * (80e9 - 8.03e9) / (65536 * 2176))
    assert fit == 479
    cases = {c.id: c for c in load_cases("inference") if c.id.startswith(("trtllm015-", "azure-trtllm015-"))}
    assert len(cases) == 51
    infer = cases["trtllm015-llama31-8b-h100-fp8-tp1-128-2048"].setup.infer
    assert (infer["batch"], infer["requests"], infer["software"]) == (min(3000, 640, fit), 3000, "trtllm-2024")
    assert all(c.setup.infer["software"] == "trtllm-2024" for c in cases.values())


def test_iteration_layer_s_is_fitted_on_its_named_case(catalog):
    trt = catalog.get("software", "trtllm-2024")
    fit = trt.fitted_on["iteration_layer_s"]
    assert fit == ["trtllm015-llama31-70b-h100-fp8-tp1-2048-2048"]
    roles = {c.id: c.role for c in load_cases("inference")}
    assert roles[fit[0]] == "fitted"
