"""Selective recomputation by module: which activations a transformer layer discards after its forward
pass and which forward work it runs again in the backward.

Megatron-Core (0.14-0.16, ``TransformerConfig.recompute_modules`` with ``recompute_granularity
'selective'``) names seven modules; what each covers, read from the code at b0cc2706
(transformer_layer.py, multi_latent_attention.py, attention.py, moe/experts.py, moe/moe_layer.py) and
its Transformer Engine layer specs (models/gpt/gpt_layer_specs.py):

* ``layernorm``: the outputs of the norms that are their own modules -- the input norm of an MLA layer
  (GQA layers fuse it into the QKV projection, ``TELayerNormColumnParallelLinear``, whose normalized
  input stays saved) and the pre-MLP norm of a MoE layer (dense layers fuse it into FC1);
* ``moe_act``: the routed experts' activation output (``TEGroupedMLP``; not the shared experts');
* ``mla_up_proj``: MLA's queries, keys and values, rebuilt from the latents by the up-projections;
* ``core_attn``: the attention core; with a flash kernel nothing it keeps is counted (its inputs are
  the checkpoint's inputs, its output the output projection's input), so it only runs the attention
  forward again; with materialized attention it frees the score matrices (Korthikanti et al. 2022);
* ``mlp``: a dense layer's whole MLP, its fused pre-MLP norm included: norm output, FC1 output and
  activation output freed; norm, FC1, activation and FC2 run again (no effect on MoE layers);
* ``shared_experts``: the shared experts' FC1 and activation outputs; their GEMMs and activation again;
* ``moe``: the whole MoE block but its input: dispatched token copies, every expert's FC1 and
  activation outputs; router, permutation, expert and shared-expert GEMMs and activations again.

The result is a set of *parts* per layer kind (dense or MoE), which the memory accounting
(:func:`fabricsim.workload.model.activation_bytes_per_token_per_layer`) and the compute model
(:mod:`fabricsim.workload.compute`) price.  ``recompute: selective`` without modules keeps fabricsim's
earlier meaning (:func:`default_parts`): both norms' outputs and every activation output (plus MLA's
up-projections where the software profile says so), or the attention core under materialized attention.

Not counted when a module runs again: kernel launches, FP8 casts of the rerun GEMMs' inputs, MLA's
rotary embedding, and the communication inside a recomputed block (``mlp``'s sequence-parallel
all-gather and reduce-scatter, ``moe``'s dispatch and combine all-to-alls).
"""

from __future__ import annotations

from fabricsim.errors import FabricsimError
from fabricsim.scenario_workload import RECOMPUTE_MODULES as MODULES
from fabricsim.workload.gemm import gemm_seconds

PARTS = ("input_norm", "pre_mlp_norm", "mla_up", "core_attn", "dense_act", "dense_mlp", "routed_act",
         "shared_act", "shared_mlp", "moe")
"""What a layer can discard and rebuild: a norm's output; MLA's q, k, v; the attention core; an FFN's
activation output alone (``*_act``) or its whole block (``dense_mlp``, ``shared_mlp``, ``moe``)."""


def check_modules(modules) -> tuple[str, ...]:
    """The modules as a tuple, or a FabricsimError naming the first unknown one and the valid names."""
    for module in modules:
        if module not in MODULES:
            raise FabricsimError(f"workload.train.recompute_modules: {module!r} is not a Megatron-Core recompute "
                                 f"module; valid: {', '.join(MODULES)}")
    return tuple(dict.fromkeys(modules))


def module_parts(modules, model, moe: bool) -> frozenset[str]:
    """Parts a layer (a MoE layer when ``moe``) of ``model`` discards under Megatron-Core ``modules``."""
    mla = model.attention == "mla"
    parts = set()
    if "layernorm" in modules:
        if mla:
            parts.add("input_norm")
        if moe:
            parts.add("pre_mlp_norm")
    if "mla_up_proj" in modules and mla:
        parts.add("mla_up")
    if "core_attn" in modules:
        parts.add("core_attn")
    if moe:
        if "moe_act" in modules:
            parts.add("routed_act")
        if "shared_experts" in modules and model.shared_experts:
            parts.add("shared_mlp")
        if "moe" in modules:
            parts.add("moe")
    elif "mlp" in modules:
        parts |= {"dense_mlp", "pre_mlp_norm"}
    return frozenset(parts)


def default_parts(model, moe: bool, materialized: bool, up_projection: bool) -> frozenset[str]:
    """fabricsim's ``selective`` without modules: the attention core under materialized attention,
    else both norms' outputs and the activation outputs; MLA's up-projections with ``up_projection``
    (the software profile's recompute_mla_up_projection, DeepSeek-V3 report 3.2.3)."""
    if materialized:
        parts = {"core_attn"}
    else:
        parts = {"input_norm", "pre_mlp_norm"} | ({"routed_act", "shared_act"} if moe else {"dense_act"})
    if up_projection and model.attention == "mla":
        parts.add("mla_up")
    return frozenset(parts)


def layer_parts(recompute: str, modules, model, moe: bool, materialized: bool,
                up_projection: bool) -> frozenset[str]:
    """Parts a layer discards under ``recompute`` (none outside 'selective'); ``modules`` None: the default set."""
    if recompute != "selective":
        return frozenset()
    if modules is None:
        return default_parts(model, moe, materialized, up_projection)
    return module_parts(modules, model, moe)


RERUN_GEMMS = {
    "mla_up": {"Q up", "KV up"},
    "dense_mlp": {"MLP FC1", "MLP FC2"},
    "shared_mlp": {"shared expert FC1", "shared expert FC2"},
    "moe": {"router", "shared expert FC1", "shared expert FC2", "experts FC1", "experts FC2"},
}
"""Forward GEMMs (:mod:`fabricsim.workload.layers` names) a discarded part runs again."""
RERUN_BYTES = {
    "input_norm": {"input_norm"}, "pre_mlp_norm": {"pre_mlp_norm"},
    "dense_act": {"dense_act"}, "routed_act": {"routed_act"}, "shared_act": {"shared_act"},
    "dense_mlp": {"dense_act"}, "shared_mlp": {"shared_act"}, "moe": {"routed_act", "shared_act", "permute"},
}
"""Memory-bound forward kernels (keys of the compute model's per-kernel bytes) a discarded part runs again."""


def rerun_seconds(parts, gemms, rates, kernel_bytes: dict, hbm_bytes_per_s: float, attention_forward_s: float) -> float:
    """Seconds of forward work a layer runs again in its backward for the discarded ``parts``: the GEMMs
    among ``gemms`` that :data:`RERUN_GEMMS` names, the memory-bound kernels of ``kernel_bytes`` (bytes
    per forward, by :data:`RERUN_BYTES` key) at ``hbm_bytes_per_s``, and the attention forward
    (``attention_forward_s``) when the attention core is among them.  Each is counted once."""
    names = set().union(*(RERUN_GEMMS.get(p, set()) for p in parts))
    keys = set().union(*(RERUN_BYTES.get(p, set()) for p in parts))
    seconds = sum(float(gemm_seconds(g.m, g.n, g.k, rates, g.batch)) for g in gemms if g.name in names)
    seconds += sum(kernel_bytes.get(k, 0.0) for k in sorted(keys)) / hbm_bytes_per_s
    return seconds + (attention_forward_s if "core_attn" in parts else 0.0)


def check_for_model(modules, model) -> None:
    """Megatron-Core's own refusals (transformer_config.py): mla_up_proj needs multi-latent attention."""
    if modules and "mla_up_proj" in modules and model.attention != "mla":
        raise FabricsimError(f"workload.train.recompute_modules: 'mla_up_proj' needs multi-latent attention and "
                             f"{model.name} has {model.attention} attention; drop it (valid for this model: "
                             f"{', '.join(m for m in MODULES if m != 'mla_up_proj')})")


__all__ = ["MODULES", "PARTS", "RERUN_GEMMS", "RERUN_BYTES", "check_modules", "module_parts", "default_parts",
           "layer_parts", "rerun_seconds", "check_for_model"]
