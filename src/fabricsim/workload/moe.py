"""Mixture-of-experts routing: how many token copies the busiest GPU's experts multiply.

A micro-batch of ``tokens`` (per CP rank) is split over TP by sequence parallelism; with expert
tensor parallelism ``etp`` each group of ``etp`` GPUs sharing the same experts gathers its
members' shards.  Every token is routed to ``k`` of ``E`` experts; an EP group of ``ep`` GPUs
holds ``E / ep`` experts each.  With perfectly balanced routing each local expert receives

    tokens_per_expert = tokens / tp x etp x k x ep / E

token copies.  The busiest GPU receives ``routing_imbalance`` times the mean (1.0 when routing is
forced to balance, as in Megatron-Bridge's MoE benchmarks; measured maxima in production are
higher), and the step waits for it.

Token-drop MoE (Megatron-Core ``moe_expert_capacity_factor``, read at core_v0.14.0 = 32ad5c89, the
25.09 container's Megatron-Core 0.14.0): every rank's router keeps at most a *capacity* of token
copies per expert, ``ceil((local tokens x k / E) x capacity_factor)`` (moe_utils.py ``get_capacity``
called by ``apply_router_token_dropping`` with ``num_tokens = tokens x topk``; the router sees the
rank's sequence-parallel shard, ``tokens / tp``), and drops the rest (``moe_token_drop_policy``
'probs' keeps the most probable, 'position' the earliest: which tokens, not how many, so it does not
change the work).  With ``moe_pad_expert_input_to_capacity`` the kept set of every expert is filled up
to exactly the capacity (the capacity mask itself becomes the routing map), so each rank sends
``capacity x E`` rows per all-to-all and each local expert multiplies ``capacity x etp x ep`` rows,
padding included, however the router chose (token_dispatcher.py ``MoEAlltoAllTokenDispatcher.preprocess``,
``drop_and_pad``).  Without padding an expert takes ``min(routed, capacity)`` from each rank.
"""

from __future__ import annotations

import math

import numpy as np

from fabricsim.errors import FabricsimError


def expert_load(model, par, tokens: float, spec) -> tuple[float, float]:
    """(token copies per local expert, token copies over all local experts) of the busiest GPU.

    Dropless: the mean times ``routing_imbalance``.  Token-drop (``spec.moe_capacity_factor``): padded to
    capacity, ``capacity x etp x ep`` rows per local expert whatever the routing; unpadded, the busiest
    expert's load capped there."""
    imbalance = getattr(spec, "routing_imbalance", 1.0) or 1.0
    per_expert = tokens / par.tp * par.etp * model.experts_per_token * par.ep / model.routed_experts * imbalance
    factor = getattr(spec, "moe_capacity_factor", None)
    if factor is not None:
        padded = expert_capacity(model, par, tokens, factor) * par.etp * par.ep
        per_expert = float(padded) if spec.moe_pad_to_capacity else min(per_expert, float(padded))
    local = model.routed_experts / par.ep
    return per_expert, per_expert * local


def expert_capacity(model, par, tokens: float, capacity_factor: float) -> int:
    """Token copies one rank keeps (and, padded, sends) per expert under token-drop: Megatron-Core
    ``get_capacity(num_tokens=local x k, num_experts=E, capacity_factor)`` =
    ``ceil((local x k / E) x capacity_factor)``, ``local = tokens / tp`` the rank's router input."""
    local = tokens / par.tp
    return math.ceil((local * model.experts_per_token / model.routed_experts) * capacity_factor)


def token_drop_copies(model, par, tokens: float, capacity_factor: float, pad: bool) -> float:
    """Rows one rank sends per all-to-all under token-drop, per token of its router input: padded,
    ``capacity x E / local`` (MoEAlltoAllTokenDispatcher ``num_out_tokens = capacity x num_experts``, equal
    splits); unpadded, the routed ``k`` copies less those over capacity (balanced routing)."""
    local = tokens / par.tp
    rows = expert_capacity(model, par, tokens, capacity_factor) * model.routed_experts
    return rows / local if pad else min(float(model.experts_per_token), rows / local)


def token_drop_mode(spec, model) -> str:
    """'' dropless, 'drop' token-drop, 'pad' token-drop padded to capacity (dense models: '')."""
    if not model.routed_experts or getattr(spec, "moe_capacity_factor", None) is None:
        return ""
    return "pad" if spec.moe_pad_to_capacity else "drop"


def check_token_drop(spec, model, par, tokens: float, dispatcher: str, graphs: bool, host_sync: bool,
                     scope) -> None:
    """Refuse what Megatron-Core refuses about token-drop, naming the field (FabricsimError).

    Sources: Megatron-Core transformer_config.py (core_v0.14.0 and b0cc2706): the padding needs a capacity
    factor; whole-MoE-layer CUDA graphs only with drop-and-pad ('moe cuda graph is only supported with
    drop-padding MoE'), and a captured preprocessing not when the unpadded all-to-all preprocessing copies
    its output size to the host; the flex dispatcher refuses the padding (core_v0.14.0: 'Flex token dispatcher
    does not support --moe-pad-expert-input-to-capacity') and Megatron-Bridge ``apply_moe_token_drop``
    (v0.1.0rc3 training/utils/moe_token_drop.py) allows token-drop only with the all-to-all dispatcher;
    ``apply_router_token_dropping`` takes the top ``capacity`` of each expert's column of the rank's tokens,
    so the capacity cannot exceed them."""
    factor = getattr(spec, "moe_capacity_factor", None)
    if spec.moe_pad_to_capacity and factor is None:
        raise FabricsimError("workload.train.moe_pad_to_capacity=true needs workload.train.moe_capacity_factor "
                             "(Megatron-Core: 'moe_expert_capacity_factor must be set to use "
                             "moe_pad_expert_input_to_capacity'); set a capacity factor (Megatron-Bridge's token-drop "
                             "recipes use 1.0) or leave moe_pad_to_capacity false")
    mode = token_drop_mode(spec, model)
    if model.routed_experts and graphs and host_sync and mode != "pad":
        raise FabricsimError(
            "workload.train.cuda_graphs=true captures every layer whole, and a dropless or unpadded token-drop MoE "
            "layer copies its token counts to the host before its all-to-all, which a CUDA graph cannot hold "
            "(Megatron-Core transformer_config.py: 'moe cuda graph is only supported with drop-padding MoE'); set "
            "moe_capacity_factor with moe_pad_to_capacity: true, or cuda_graphs: false (cuda_graph_scope captures "
            "parts of a dropless layer)")
    if not mode:
        return
    if dispatcher != "alltoall":
        raise FabricsimError(f"workload.train.moe_capacity_factor={factor} is modelled with the all-to-all dispatcher "
                             f"only, and this job dispatches with {dispatcher} (Megatron-Bridge apply_moe_token_drop: "
                             "'moe_expert_capacity_factor only works with alltoall token dispatcher'); set "
                             "workload.train.moe_dispatcher: alltoall or drop moe_capacity_factor")
    if mode == "drop" and "moe_preprocess" in (scope or ()):
        raise FabricsimError("workload.train.cuda_graph_scope holds moe_preprocess, and unpadded token-drop copies its "
                             "output size to the host in the preprocessing (Megatron-Core: 'moe_preprocess cuda graph "
                             "is not supported when there are DtoH copies and synchronizations in the preprocess "
                             "step'); set moe_pad_to_capacity: true or drop moe_preprocess")
    local = tokens / par.tp
    capacity = expert_capacity(model, par, tokens, factor)
    if capacity > local:
        most = model.routed_experts / model.experts_per_token
        raise FabricsimError(f"workload.train.moe_capacity_factor={factor} gives each expert a capacity of {capacity:,} "
                             f"token copies per rank, more than the rank's {local:,.0f} tokens (Megatron-Core "
                             "apply_router_token_dropping takes the top capacity of each expert's column of tokens); "
                             f"use at most {most:g} (experts / k) for {model.name}")


def active_experts(model, routed_tokens: float, local: float) -> float:
    """Expected local experts that receive at least one of ``routed_tokens`` tokens (each routed to ``k``
    of ``E`` experts, uniformly): ``local (1 - (1 - k/E)^tokens)``.  A step's expert kernels read only
    these experts' weights (grouped/fused MoE GEMMs skip empty experts); with the thousands of tokens of a
    training micro-batch or a prompt every expert is active, with the few sequences of a decode step not."""
    share = 1.0 - (1.0 - model.experts_per_token / model.routed_experts) ** max(0.0, routed_tokens)
    return local * share


def distinct_targets(units: int, k: int) -> float:
    """Expected distinct units (GPUs or nodes) among a token's ``k`` experts when the experts are spread
    uniformly over ``units`` equal units: ``units (1 - (1 - 1/units)^k)``."""
    return units * (1 - (1 - 1 / units) ** k)


def contiguous_targets(experts: int, units: int, k: int) -> float:
    """Mean distinct units (GPUs or nodes, each holding ``experts / units`` consecutive experts) among a token's
    ``k`` experts when token ``t`` takes experts ``tk .. tk + k - 1`` modulo ``experts`` (NeMo AutoModel
    components/moe/layers.py FakeBalancedGate: ``arange(tokens x k).view(-1, k) % experts``): exact over the
    pattern's period, which divides ``experts`` tokens."""
    chosen = (np.arange(experts)[:, None] * k + np.arange(k)[None, :]) % experts
    owners = np.sort(np.floor(chosen * units / experts), axis=1)
    return float(np.mean(1 + np.count_nonzero(np.diff(owners, axis=1), axis=1)))


FLEX_DISPATCHERS = ("deepep", "hybridep")
"""Megatron-Core's flex token dispatchers: their own kernels write tokens straight into the peers' receive buffers
(NVSHMEM / IPC), not through NCCL's point-to-point FIFOs."""


def dispatcher_for(dispatcher: str | None, node_limit: int | None) -> str:
    """The token dispatcher a job runs: as given, else DeepEP with DeepSeek-style node-limited routing
    (the pair DeepSeek-V3 designed together) and Megatron's all-to-all otherwise."""
    if dispatcher:
        return dispatcher
    return "deepep" if node_limit else "alltoall"


def expert_sort(dispatcher: str, model, par) -> bool:
    """Whether the dispatcher copies every received token row once more each way to order it by local expert.

    Megatron-Core's all-to-all dispatcher permutes a rank's tokens by destination expert before the
    all-to-all; what arrives is ordered by source rank, so with more than one local expert
    ``dispatch_postprocess`` sorts it by local expert (``sort_chunks_by_idxs``; under drop-and-pad a
    ``transpose(0, 1).contiguous()`` of the capacity blocks) and ``combine_preprocess`` restores the
    rank order before the combining all-to-all (megatron/core/transformer/moe/token_dispatcher.py,
    MoEAlltoAllTokenDispatcher, core_v0.14.0 to core_v0.19.0).  DeepEP's and HybridEP's receive side
    writes or permutes straight into expert order (one permutation each way, ``_DeepepManager`` /
    ``_HybridEPManager`` get_permuted_hidden_states_by_experts), and a single local expert needs no sort."""
    return dispatcher == "alltoall" and model.routed_experts // max(1, par.ep) > 1


QUANTIZATION_ALIGN_ROWS = {"mxfp8": 32, "nvfp4": 128}
"""Rows each expert's block is padded to before a quantized grouped GEMM, by recipe (Transformer Engine v2.12
quantization.py ``get_align_size_for_quantization``: MXFP8 32, NVFP4 128, every other FP8 recipe 16)."""


def quantization_padding(dispatcher: str, fp8_recipe: str | None, token_drop: str, rows_per_expert: float) -> bool:
    """Whether Megatron-Core's grouped experts copy their rows into per-expert blocks padded to the FP8 recipe's row
    multiple and copy the output back (an FP8 job; ``fp8_recipe`` None: a 16-row recipe).

    TEGroupedMLP (megatron/core/transformer/moe/experts.py, core_v0.14.0 to d0b3b775, the 25.09-26.06 stacks) runs
    Transformer Engine's ``Fp8Padding`` on its input and routing probabilities and ``Fp8Unpadding`` on its output
    whenever a local expert's row count is not a multiple of the alignment (``fused_multi_row_padding`` /
    ``fused_multi_row_unpadding``: a copy of every row, and backward the same copies of the gradients).  HybridEP's
    permute writes the padded layout itself (``_HybridEPManager.dispatch`` passes ``pad_multiple``), and
    ``moe_router_padding_for_quantization`` pads the routing map instead (no Megatron-Bridge Qwen3, DeepSeek or
    gpt-oss recipe of v0.1-v0.5 sets it).  Dropless (or unpadded token-drop) routing gives each expert a count that
    varies step to step, so some expert is unaligned; padded to capacity every expert takes ``rows_per_expert``."""
    if dispatcher == "hybridep":
        return False
    if token_drop == "pad":
        return rows_per_expert % QUANTIZATION_ALIGN_ROWS.get(fp8_recipe or "", 16) != 0
    return True


def forwarding_domain(dispatcher: str, scale_up_gpus: int, gpus_per_server: int, deepep_mnnvl: bool = False) -> int:
    """GPUs a flex dispatcher reaches over NVLink before it needs the scale-out network: HybridEP spans a
    whole NVLink domain (multi-node NVLink such as GB200 NVL72, Megatron-Bridge flex_dispatcher_backend.py);
    DeepEP's intranode kernels one server, or the whole domain where the GPU has a measured multi-node-NVLink
    DeepEP (``deepep_mnnvl``: catalog deepep_mnnvl_sm_bytes_per_s; ASSUMED: DeepEP on such a system is that build,
    community PR 218, since upstream DeepEP keeps its NVLink kernels to 8 ranks)."""
    if dispatcher == "hybridep" or (dispatcher == "deepep" and deepep_mnnvl):
        return scale_up_gpus
    return min(scale_up_gpus, gpus_per_server)


def dispatch_copies(model, par, gpus_per_node: int, node_limit: int | None, dispatcher: str | None = None,
                    routing: str = "random") -> float:
    """Token copies one token sends over the network per dispatch (and gathers back per combine).

    Megatron's all-to-all dispatcher sends one copy per routed expert: ``k``.  The flex dispatchers
    (Megatron-Core ``moe_token_dispatcher_type: flex`` with ``moe_flex_dispatcher_backend`` DeepEP
    or HybridEP) send one copy per *target node* over the scale-out network and forward it to the
    experts of that node over NVLink: with the EP group spanning ``N`` nodes and experts spread
    uniformly, a token's k experts fall on ``N (1 - (1 - 1/N)^k)`` distinct nodes on average,
    capped by node-limited routing at ``M`` (DeepSeek-V3 report section 2.1.2: ``M`` = 4).  When
    the whole EP group sits in one node there is no scale-out leg: the intranode dispatch sends
    one copy per *target GPU* over NVLink (DeepEP ``get_dispatch_layout``: ``is_token_in_rank`` is
    [tokens x ranks]), ``ep (1 - (1 - 1/ep)^k)`` of them.  Under ``contiguous`` routing a token's experts are k
    consecutive ones (:func:`contiguous_targets`), on one or two ranks and nodes."""
    k = model.experts_per_token
    if dispatcher_for(dispatcher, node_limit) == "alltoall":
        return float(k)
    node_limit = node_limit or k
    ranks = par.ep * par.etp
    nodes = max(1, -(-ranks // gpus_per_node))
    units = ranks if nodes == 1 else nodes
    if routing == "contiguous":
        spread = contiguous_targets(model.routed_experts, units, k)
    else:
        spread = distinct_targets(units, k)
    return float(min(k, spread) if nodes == 1 else min(k, node_limit, spread))

__all__ = ["quantization_padding", "QUANTIZATION_ALIGN_ROWS", "expert_load", "active_experts", "dispatch_copies", "dispatcher_for", "distinct_targets", "contiguous_targets", "forwarding_domain", "expert_capacity",
           "token_drop_copies", "token_drop_mode", "check_token_drop"]
