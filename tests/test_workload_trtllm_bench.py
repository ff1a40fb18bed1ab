"""trtllm-bench 1.0 engine limits, the CUDA-graph batch sizes they keep, decode-step padding, and what the
padded rows cost -- counted by hand from TensorRT-LLM's tuning.py, general.py and model_engine.py."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import infer
from fabricsim.workload.forward import forward_cost
from fabricsim.workload.trtllm_bench import engine_limits, generation_only_share, graph_batch_sizes, padded_batch

LISTED = [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192]  # perf-overview llm_options.yml
H100 = 81559 * 2**20  # nvidia-smi total, bytes
H200 = 143771 * 2**20
P8B, P70B = 8_030_261_248, 70_553_706_496  # llama3-8b / llama3-70b parameters
KV8B, KV70B = 2 * 32 * 8 * 128, 2 * 80 * 8 * 128  # FP8 KV bytes per token, whole model


def test_engine_limits_by_hand():
    # 70B on H200, 128/2048: (140.40 - 65.71 GiB) x 0.95 / (163,840 B x 2,176 / 2^30 = 0.3320 GiB) = 213.7
    # requests -> below 256: 32 x ceil(213.7 / 32) = 224; tokens 213.7 x (1 + 128/2048) = 227 -> min 2,048
    assert engine_limits(P70B, 1, KV70B, H200, 1, 128, 2048, 0.95) == (224, 2048)
    # 8B on H200, 128/2048: (140.40 - 7.48) x 0.95 / 0.1328 = 950.8 -> 128 x 8 = 1,024; 1,010 tokens -> 2,048
    assert engine_limits(P8B, 1, KV8B, H200, 1, 128, 2048, 0.95) == (1024, 2048)
    # 8B on H100, 2048/2048: (79.65 - 7.48) x 0.95 / 0.25 = 274.2 -> 384; 548 tokens -> 2,048, but a whole
    # 2,048-token prompt must fit beside 384 generation tokens: 2,432
    assert engine_limits(P8B, 1, KV8B, H100, 1, 2048, 2048, 0.95) == (384, 2432)
    # 8B on H200, 128/128: 8,082 requests, capped at 4,096; 8,192 tokens
    assert engine_limits(P8B, 1, KV8B, H200, 1, 128, 128, 0.95) == (4096, 8192)
    # 70B over TP2 H100s, 2048/2048: (2 x 79.65 - 65.71) x 0.95 / 0.625 = 142.3 -> 160; 2,048 + 160
    assert engine_limits(P70B, 1, KV70B, H100, 2, 2048, 2048, 0.95) == (160, 2208)


def test_graph_batch_sizes_keep_the_list_up_to_the_limits_then_the_limit():
    assert graph_batch_sizes(LISTED, 224, 2048) == [1, 2, 4, 8, 16, 32, 64, 128, 224]
    assert graph_batch_sizes(LISTED, 1024, 2048)[-3:] == [384, 512, 1024]
    assert graph_batch_sizes(LISTED, 640, 2048)[-3:] == [384, 512, 640]
    assert graph_batch_sizes(LISTED, 4096, 3000)[-2:] == [2048, 3000]  # max_num_tokens bounds a decode batch too
    assert graph_batch_sizes(LISTED, 8192, 8192) == LISTED


def test_padded_batch_rounds_up_to_the_next_captured_size():
    sizes = graph_batch_sizes(LISTED, 224, 2048)
    assert padded_batch(187, sizes) == 224
    assert padded_batch(128, sizes) == 128
    assert padded_batch(885, graph_batch_sizes(LISTED, 1024, 2048)) == 1024
    assert padded_batch(5000, LISTED[:13]) == 5000  # above every graph: eager, unpadded
    assert padded_batch(10, []) == 10


def test_generation_only_share_by_hand():
    # 885 sequences, 2,048-token budget, 128-token prompts: (2,048 - 885) // 128 = 9 prompts a step,
    # 885 / 9 -> 99 mixed steps of 2,048
    assert generation_only_share(885, 2048, 128, 2048) == pytest.approx(1 - 99 / 2048)
    # 2,048-token prompts: one a step, 254 mixed steps of 2,048
    assert generation_only_share(254, 2432, 2048, 2048) == pytest.approx(1 - 254 / 2048)
    # 128/128 at 4,075 sequences: (8,192 - 4,075) // 128 = 32 a step, 128 mixed steps: every step mixed
    assert generation_only_share(4075, 8192, 128, 128) == 0.0


def test_padded_rows_cost_gemms_but_no_attention():
    catalog = default_catalog()
    model = catalog.sections["models"]["llama3-70b"]
    gpu = catalog.sections["gpus"]["h200-sxm"]
    profile = catalog.sections["software"]["trtllm-2025"]
    real = forward_cost(model, gpu, profile, 187, 1152, 1, "fp8", 1, True)
    padded = forward_cost(model, gpu, profile, 187, 1152, 1, "fp8", 1, True, rows=224)
    assert padded.attention_s == real.attention_s and padded.kv_bytes == real.kv_bytes
    assert padded.gemm_s > real.gemm_s
    # 80 layers x 4 GEMMs x 2 x rows x their 855.6M weights, + the head: 2 x rows x 8,192 x 128,256
    layer_flops = 2 * (8192 * (8192 + 2 * 1024) + 8192 * 8192 + 3 * 8192 * 28672)
    assert padded.flops - real.flops == pytest.approx((224 - 187) * (80 * layer_flops + 2 * 8192 * 128256))


def test_bf16_output_head_is_slower_than_fp8():
    catalog = default_catalog()
    model = catalog.sections["models"]["llama3-8b"]
    gpu = catalog.sections["gpus"]["h100-sxm"]
    bf16 = catalog.sections["software"]["trtllm-2025"]
    fp8 = bf16.model_copy(update={"fp8_output_head": True})
    assert not bf16.fp8_output_head
    a = forward_cost(model, gpu, bf16, 479, 1152, 1, "fp8", 1, True)
    b = forward_cost(model, gpu, fp8, 479, 1152, 1, "fp8", 1, True)
    assert a.gemm_s > b.gemm_s and a.attention_s == b.attention_s


def test_static_serving_reports_the_padded_rows():
    scenario = scenario_from_dict({"cluster": {"gpu": "h200-sxm", "gpus": 8}})
    args = dict(model="llama3-70b", mode="static", tp=1, prefill_gpus=1, decode_gpus=1, batch=187, context=128,
                output_tokens=2048, weight_bytes=1, kv_bytes=1, kv_cache_fraction=0.95)
    padded = infer(scenario, software="trtllm-2025", **args)
    assert padded.decode_rows == 224
    plain = infer(scenario, software="serving-2025", **args)  # no CUDA-graph padding in that profile
    assert plain.decode_rows == 187
