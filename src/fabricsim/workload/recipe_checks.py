"""Which of the 26.06-era Megatron-Core MoE recipe features combine, and how (FabricsimError naming the field).

The features (scenario ``workload.train``): ``cuda_graph_full_iteration`` (Megatron-Core ``cuda_graph_impl
full_iteration``), ``moe_expert_rank_capacity_factor`` (HybridEP's static receive buffers: a sync-free dropless
dispatch), ``moe_fused_grouped_mlp`` (Megatron-Bridge ``cutedsl_fused_grouped_mlp``), ``fp8_attention``
(``fp8_dot_product_attention``), ``fp8_output_head`` (``fp8_output_proj``) and ``moe_a2a_overlap``
(``overlap_moe_expert_parallel_comm``).  Their effects live where their concepts do: launches in kernels.py, bytes
in elementwise.py, the attention rate in fp8_attention.py, the output head's rate in compute.py ``head_work``, the
host synchronization in host_sync.py (skipped when sync-free), the all-to-all overlap in a2a_overlap.py.  Sources of
the rules: Megatron-LM transformer_config.py at d98e8a6 (2026-08), Megatron-Core token_dispatcher.py
``_HybridEPManager``, experts.py ``TEGroupedMLP._is_fused_impl_supported`` and fp8_utils.py
``is_mxfp8_output_proj_active``, Transformer Engine v2.16 ops/fused/forward_grouped_mlp.py.
"""

from __future__ import annotations

from fabricsim.errors import FabricsimError
from fabricsim.workload.fp8_casts import run_recipe


def sync_free(spec, model) -> bool:
    """A dropless MoE dispatch that never copies token counts to the host: HybridEP with static receive buffers
    (``moe_expert_rank_capacity_factor``; token_dispatcher.py: ``num_permuted_tokens`` is then the static budget,
    and the CPU sync in dispatch happens only when it is None)."""
    return bool(model.routed_experts) and spec.moe_expert_rank_capacity_factor is not None


def check_recipe_features(spec, model, par, gpu, profile, dispatcher: str, graphs: bool, scope, token_drop: str,
                          recompute_modules, mtp: int) -> None:
    """Refuse combinations Megatron-Core refuses or that fabricsim cannot time (see the module docstring)."""
    _check_capacity(spec, model, dispatcher)
    if spec.ep_dispatcher_sms is not None and spec.ep_dispatcher_sms >= gpu.sm_count:
        raise FabricsimError(f"workload.train.ep_dispatcher_sms={spec.ep_dispatcher_sms}: {gpu.name} has {gpu.sm_count} "
                             "SMs and the dispatcher must leave some to the compute; use fewer (Megatron-Core defaults: "
                             "DeepEP 20, HybridEP 16)")
    if spec.cuda_graph_full_iteration:
        _check_full_iteration(spec, model, profile, graphs, scope, token_drop)
    if spec.moe_fused_grouped_mlp:
        _check_fused_mlp(spec, model, par, gpu, profile)
    if spec.fp8_attention and spec.precision != "fp8":
        raise FabricsimError(f"workload.train.fp8_attention=true with precision={spec.precision!r}: Transformer "
                             "Engine runs attention in FP8 only inside an FP8 recipe (fp8_dot_product_attention needs "
                             "fp8); set precision: fp8 or fp8_attention: false")
    recipe = run_recipe(spec, profile)
    if spec.fp8_output_head and (spec.precision != "fp8" or recipe != "mxfp8"):
        raise FabricsimError(f"workload.train.fp8_output_head=true with precision={spec.precision!r} and fp8_recipe="
                             f"{recipe!r}: Megatron-Core runs the output head in FP8 only under MXFP8 "
                             "(fp8_utils.is_mxfp8_output_proj_active: fp8_output_proj, fp8 and fp8_recipe mxfp8); set "
                             "precision: fp8 and fp8_recipe: mxfp8, or fp8_output_head: false")
    if spec.moe_a2a_overlap:
        _check_a2a_overlap(spec, model, par, recompute_modules, mtp)


def _check_capacity(spec, model, dispatcher: str) -> None:
    factor = spec.moe_expert_rank_capacity_factor
    if factor is None:
        return
    if not model.routed_experts:
        raise FabricsimError(f"workload.train.moe_expert_rank_capacity_factor={factor} sizes an MoE dispatcher's "
                             f"receive buffers, and {model.name} has no routed experts; drop it")
    if dispatcher != "hybridep":
        raise FabricsimError(f"workload.train.moe_expert_rank_capacity_factor={factor} is HybridEP's static receive "
                             f"buffer (Megatron-Core _HybridEPManager), and this job dispatches with {dispatcher}; set "
                             "moe_dispatcher: hybridep or drop the capacity factor")
    if spec.routing_imbalance > factor:
        raise FabricsimError(f"workload.train.routing_imbalance={spec.routing_imbalance:g} exceeds "
                             f"moe_expert_rank_capacity_factor={factor:g}: the busiest rank's tokens overflow HybridEP's "
                             "static budget, which drops them (over_budget) -- no longer dropless; raise the factor to at "
                             "least the imbalance")


def _check_full_iteration(spec, model, profile, graphs: bool, scope, token_drop: str) -> None:
    if graphs or scope:
        raise FabricsimError(f"workload.train.cuda_graph_full_iteration=true with per-layer graphs (cuda_graphs={graphs}, "
                             f"cuda_graph_scope={list(scope or [])}): Megatron-Core takes one implementation "
                             "('cuda_graph_modules must be empty when cuda_graph_impl=\"full_iteration\"'); set "
                             "cuda_graphs: false and cuda_graph_scope: []")
    if model.routed_experts and profile.moe_host_sync and token_drop != "pad" and not sync_free(spec, model):
        raise FabricsimError("workload.train.cuda_graph_full_iteration=true and the MoE layers are dropless (or unpadded "
                             "token-drop): their dispatch copies token counts to the host, which a graph of the whole "
                             "iteration cannot hold; make the dispatch sync-free (moe_dispatcher: hybridep with "
                             "moe_expert_rank_capacity_factor, Megatron-Bridge 26.06 uses 1.5), pad token-drop to "
                             "capacity, or drop the full-iteration graph")


def _check_fused_mlp(spec, model, par, gpu, profile) -> None:
    recipe = run_recipe(spec, profile)
    problems = []
    if not model.routed_experts:
        problems.append(f"{model.name} has no routed experts")
    if spec.precision != "fp8" or recipe != "mxfp8":
        problems.append(f"its kernels are MXFP8 (precision={spec.precision!r}, fp8_recipe={recipe!r}; set precision fp8, "
                        "fp8_recipe mxfp8)")
    if gpu.architecture != "blackwell":
        problems.append(f"its CuTe-DSL kernels run on compute capability 10 (Blackwell), and {gpu.name} is "
                        f"{gpu.architecture}")
    if par.etp > 1:
        problems.append(f"expert tensor parallelism is not supported (expert_tp={par.etp}; use 1)")
    if model.mlp != "swiglu":
        problems.append(f"it fuses a gated (GLU) activation and {model.name}'s MLP is {model.mlp}")
    if problems:
        raise FabricsimError("workload.train.moe_fused_grouped_mlp=true (Transformer Engine's fused grouped MLP): "
                             + "; ".join(problems) + "; or set moe_fused_grouped_mlp: false")


def _check_a2a_overlap(spec, model, par, recompute_modules, mtp: int) -> None:
    problems = []
    if not model.routed_experts or par.ep < 2:
        problems.append("it needs expert parallelism (ep > 1) on an MoE model")
    if spec.ep_comm_overlap is not None:
        problems.append(f"ep_comm_overlap={spec.ep_comm_overlap} sets the hidden share by hand; drop one of them")
    if spec.pipeline_schedule == "dualpipe":
        problems.append("DualPipe overlaps its all-to-alls its own way (pipeline_schedule 1f1b)")
    if spec.recompute == "full" or spec.recompute_layers is not None:
        problems.append("Megatron-Core refuses full recomputation and recompute_num_layers with it")
    if recompute_modules and "moe" in recompute_modules:
        problems.append("Megatron-Core refuses 'moe' in recompute_modules with it")
    if par.pp > 1 and spec.virtual_stages is None:
        problems.append("with pp > 1 Megatron-Core needs virtual_pipeline_model_parallel_size set (virtual_stages)")
    if mtp > 1:
        problems.append(f"Megatron-Core allows at most one MTP layer with it (mtp={mtp})")
    if problems:
        raise FabricsimError("workload.train.moe_a2a_overlap=true (Megatron-Core overlap_moe_expert_parallel_comm): "
                             + "; ".join(problems))


def check_precision(precision: str, gpu) -> None:
    """Refuse NVFP4 training on a GPU without FP4 tensor cores, naming the field (FabricsimError)."""
    if precision == "fp4" and gpu.fp4_dense_flops is None:
        raise FabricsimError(f"workload.train.precision=fp4 (NVFP4 training) needs FP4 tensor cores, and {gpu.name} has "
                             "none (catalog fp4_dense_flops); use precision fp8 or a Blackwell GPU (b200, gb200, b300, "
                             "gb300)")


__all__ = ["sync_free", "check_recipe_features", "check_precision"]
