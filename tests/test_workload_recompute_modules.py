"""Megatron-Core selective recomputation by module (workload.train.recompute_modules): bytes each module frees
and seconds it adds, counted by hand per token of one layer (TP1, BF16 activations, flash attention, no
dropout, fused elementwise chains of megatron-core-2025)."""

import pytest
from hypothesis import given, settings, strategies as st

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.compute import Shape, layer_work
from fabricsim.workload.gemm import gemm_seconds, rates_for
from fabricsim.workload.layers import dense_layer_gemms
from fabricsim.workload.model import activation_bytes_per_token_per_layer
from fabricsim.workload.recompute_modules import MODULES, layer_parts

CATALOG = default_catalog()
PROFILE = CATALOG.get("software", "megatron-core-2025")
LLAMA = CATALOG.get("models", "llama3-8b")  # h 4096, 32 heads, 8 KV heads of 128, SwiGLU FFN 14336
QWEN = CATALOG.get("models", "qwen3-30b-a3b")  # h 2048, 32 heads, 4 KV heads of 128, 8 of 128 experts of 768
DEEPSEEK = CATALOG.get("models", "deepseek-v3")  # MLA, 128 heads, q/k 128 + 64, v 128; 1 shared expert of 2048


def _bytes(model, modules, moe=None, recompute="selective"):
    moe = bool(model.routed_experts) if moe is None else moe
    parts = layer_parts(recompute, modules, model, moe, False, False)
    return activation_bytes_per_token_per_layer(model, 4096, 1, True, recompute, moe=moe, recomputed=parts)


# --- memory, bytes per token per layer ------------------------------------------------------------------

LLAMA_NONE = 4 * 4096 + 2 * 2 * 4096 + 2 * (32 + 16) * 128 + 2 * 32 * 128 + 2 * 2 * 14336 + 2 * 14336
"""norm inputs 4h, both norm outputs 2 x 2h, q/k/v 2(a + 2kv)d, attention output 2ad, SwiGLU FC1 outputs
2 x 2f, activation output 2f = 139,264 B."""
QWEN_NONE = 4 * 2048 + 2 * 2 * 2048 + 2 * (32 + 8) * 128 + 2 * 32 * 128 + 2 * 2 * 6144 + 2 * 6144 + 2 * 2048 * 8
"""as LLAMA_NONE with 8 routed copies of 768 (6,144 FFN elements) and the 8 dispatched token copies = 104,448 B."""


def test_no_module_keeps_everything():
    assert LLAMA_NONE == 139_264 and QWEN_NONE == 104_448
    assert _bytes(LLAMA, ()) == _bytes(LLAMA, None, recompute="none") == LLAMA_NONE
    assert _bytes(QWEN, ()) == _bytes(QWEN, None, recompute="none") == QWEN_NONE


def test_layernorm_frees_only_norms_that_are_their_own_modules():
    """GQA layers fuse the input norm into the QKV projection and dense layers the pre-MLP norm into FC1
    (TELayerNormColumnParallelLinear keeps the normalized input): nothing freed on Llama; the MoE layer's
    pre-MLP norm output (2h = 4,096 B) on Qwen3; on DeepSeek-V3 the MLA input norm (2h = 14,336 B) in every
    layer and the pre-MLP one in MoE layers."""
    assert _bytes(LLAMA, ["layernorm"]) == LLAMA_NONE
    assert QWEN_NONE - _bytes(QWEN, ["layernorm"]) == 2 * 2048
    assert _bytes(DEEPSEEK, [], moe=False) - _bytes(DEEPSEEK, ["layernorm"], moe=False) == 2 * 7168
    assert _bytes(DEEPSEEK, [], moe=True) - _bytes(DEEPSEEK, ["layernorm"], moe=True) == 2 * 2 * 7168


def test_moe_act_frees_the_routed_activation_output():
    assert QWEN_NONE - _bytes(QWEN, ["moe_act"]) == 2 * 8 * 768
    assert _bytes(LLAMA, ["moe_act"]) == LLAMA_NONE  # no routed experts: nothing to do


def test_mlp_frees_a_dense_mlp_with_its_fused_norm():
    """Pre-MLP norm output 2h, FC1 outputs 2 x 2f, activation output 2f = 8,192 + 57,344 + 28,672 B."""
    assert LLAMA_NONE - _bytes(LLAMA, ["mlp"]) == 2 * 4096 + 4 * 14336 + 2 * 14336 == 94_208
    assert _bytes(QWEN, ["mlp"]) == QWEN_NONE  # MoE layers are not Megatron's 'mlp'


def test_moe_frees_the_block_but_its_input():
    """Routed FC1 outputs 4 x 6,144, activation outputs 2 x 6,144, dispatched copies 2 x 8 x 2,048 B."""
    assert QWEN_NONE - _bytes(QWEN, ["moe"]) == 4 * 6144 + 2 * 6144 + 2 * 8 * 2048 == 69_632


def test_shared_experts_and_mla_up_proj_on_deepseek():
    """One shared expert of 2,048: FC1 outputs 2 x 2 x 2,048 and activation output 2 x 2,048 B; MLA's
    queries, keys and values: 2 x 128 heads x (2 x 192 + 128) = 131,072 B."""
    none = _bytes(DEEPSEEK, [], moe=True)
    assert none - _bytes(DEEPSEEK, ["shared_experts"], moe=True) == 4 * 2048 + 2 * 2048
    assert none - _bytes(DEEPSEEK, ["mla_up_proj"], moe=True) == 2 * 128 * (2 * 192 + 128) == 131_072


def test_the_default_set_is_fabricsims_earlier_selective():
    """No modules: both norms and the activation output (Llama: 2 x 8,192 + 28,672 B)."""
    assert LLAMA_NONE - activation_bytes_per_token_per_layer(LLAMA, 4096, 1, True, "selective") == 16_384 + 28_672
    assert layer_parts("selective", None, QWEN, True, False, False) == {"input_norm", "pre_mlp_norm", "routed_act",
                                                                        "shared_act"}
    assert layer_parts("selective", None, QWEN, True, True, False) == {"core_attn"}  # materialized attention


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(MODULES)), st.sets(st.sampled_from(MODULES)), st.sampled_from([LLAMA, QWEN, DEEPSEEK]),
       st.booleans())
def test_more_modules_never_keep_more(a, b, model, moe):
    """Monotone in the set of modules, and between full recomputation and none."""
    moe = moe and bool(model.routed_experts)
    small, large = _bytes(model, sorted(a), moe), _bytes(model, sorted(a | b), moe)
    assert _bytes(model, None, moe, "full") <= large <= small <= _bytes(model, None, moe, "none")


# --- time: forward work run again in the backward --------------------------------------------------------

TOKENS = 8192


def _rerun(model, gpu, modules, moe, routed=0.0):
    shape = Shape(TOKENS, 4096, 2, 1, True, "bf16", 8 if moe else 1, 1, routed / 16, routed,
                  recompute_modules=tuple(modules))
    return layer_work(model, gpu, shape, PROFILE, moe).selective_recompute


def test_seconds_each_module_adds_on_a_dense_layer():
    """Llama 3 8B on an H100: 'layernorm' reruns nothing (its norms are fused into the linears); 'mlp' the
    pre-MLP norm (read h, write h: 4 B per element), FC1 and FC2, and the SwiGLU (6 B per FFN element);
    'core_attn' the flash forward."""
    gpu = CATALOG.gpu("h100-sxm")
    hbm = gpu.hbm_stream_bytes_per_s
    rates = rates_for(gpu, "bf16", PROFILE.kernel_efficiency)
    gemms = {g.name: g for g in dense_layer_gemms(LLAMA, TOKENS, 1)}
    fc = sum(float(gemm_seconds(g.m, g.n, g.k, rates)) for n, g in gemms.items() if n in ("MLP FC1", "MLP FC2"))
    assert _rerun(LLAMA, gpu, [], False) == 0.0
    assert _rerun(LLAMA, gpu, ["layernorm"], False) == 0.0
    assert _rerun(LLAMA, gpu, ["mlp"], False) == pytest.approx(fc + (4 * 4096 + 6 * 14336) * TOKENS / hbm)
    work = layer_work(LLAMA, gpu, Shape(TOKENS, 4096, 2, 1, True, "bf16"), PROFILE, False)
    assert _rerun(LLAMA, gpu, ["core_attn"], False) == pytest.approx(work.attention_forward)


def test_seconds_each_module_adds_on_a_moe_layer():
    """Qwen3-30B on a B200, 65,536 routed copies on this GPU: 'layernorm' reruns the pre-MLP norm (4 B x h
    per token), 'moe_act' the SwiGLU of every copy (6 B x 768), together their sum."""
    gpu = CATALOG.gpu("b200")
    hbm = gpu.hbm_stream_bytes_per_s
    routed = 8.0 * TOKENS
    norm = 4 * 2048 * TOKENS / hbm
    act = 6 * 768 * routed / hbm
    assert _rerun(QWEN, gpu, ["layernorm"], True, routed) == pytest.approx(norm)
    assert _rerun(QWEN, gpu, ["moe_act"], True, routed) == pytest.approx(act)
    assert _rerun(QWEN, gpu, ["layernorm", "moe_act"], True, routed) == pytest.approx(norm + act)
    assert _rerun(QWEN, gpu, ["moe", "moe_act"], True, routed) == _rerun(QWEN, gpu, ["moe"], True, routed) > norm + act


# --- the scenario field and its errors -------------------------------------------------------------------

def _scenario():
    return scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 8}})


JOB = dict(model="llama3-8b", tp=1, pp=1, dp=8, global_batch=64, seq=4096, micro_batch=1, precision="bf16")


def test_an_empty_list_recomputes_nothing_and_modules_imply_selective():
    none = train(_scenario(), **JOB, recompute="none")
    empty = train(_scenario(), **JOB, recompute_modules=[])
    assert empty.recompute == "selective" and empty.step_time_s == pytest.approx(none.step_time_s)
    mlp = train(_scenario(), **JOB, recompute_modules=["mlp"])
    assert mlp.memory.activations < none.memory.activations and mlp.step_time_s > none.step_time_s
    assert "of modules [mlp]" in " ".join(mlp.notes)


@pytest.mark.parametrize("overrides, said", [
    (dict(recompute_modules=["mlp", "bogus"]), ["recompute_modules", "'bogus'", "core_attn", "shared_experts"]),
    (dict(recompute="full", recompute_modules=["mlp"]), ["recompute_modules", "recompute='full'", "selective"]),
    (dict(recompute_layers=2, recompute_modules=["mlp"]), ["recompute_layers=2", "recompute: full"]),
    (dict(recompute_modules=["mla_up_proj"]), ["recompute_modules", "mla_up_proj", "multi-latent", "gqa"]),
])
def test_bad_recompute_modules_are_named(overrides, said):
    with pytest.raises(FabricsimError) as err:
        train(_scenario(), **{**JOB, **overrides})
    for text in said:
        assert text in str(err.value)
