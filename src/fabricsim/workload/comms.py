"""The collectives one training step really issues, and their times on the fabric.

Per micro-batch and layer (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models", section 4.2.2): tensor parallelism with sequence parallelism issues two
all-gathers and two reduce-scatters of the layer's activations in the forward pass and again in
the backward pass (plain TP: two all-reduces each way); full recomputation repeats the forward
ones.  Context parallelism all-gathers keys and values per layer forward and reduce-scatters their
gradients backward (the Llama 3 paper's all-gather CP, section 3.3.2), or -- PyTorch's 2024 ring
attention (:mod:`fabricsim.workload.ring_attention`) -- gathers them in every forward and backward pass
and hands FP32 key/value gradients to the next rank at each of the ``cp`` backward steps.  MoE layers dispatch and
combine tokens with two all-to-alls forward and two backward.  Pipeline stages send activations
forward and gradients backward per micro-batch and model chunk (each TP rank sends its 1/tp share).
MoE token copies per dispatch follow the routing (:func:`fabricsim.workload.moe.dispatch_copies`:
k per token, or one per target node with DeepSeek's node-limited routing, one per target GPU when the EP
group sits in one node).  Data parallelism all-reduces
gradients once per step (no ZeRO), or reduce-scatters them and all-gathers the updated weights
once per step (ZeRO-1, Megatron's distributed optimizer: the full gradient buffer accumulates over
micro-batches); with sharded gradients (ZeRO-2 / FSDP) every micro-batch's gradients are
reduce-scattered as its backward finishes; ZeRO-3 also all-gathers every layer's weight tensors
before its forward and again before its backward (Rajbhandari et al. 2020, section 7), one
collective per weight matrix at its real size.

Every call is timed on *all* of its groups at once (:func:`fabricsim.collectives.concurrent.time_groups`),
so DP groups that share spine links under ECMP slow each other as they do in a real step.
Sizes in bytes (nccl-tests convention), times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.collectives.algorithms import ALGORITHMS
from fabricsim.collectives.concurrent import GroupTiming, time_groups, time_transfers
from fabricsim.workload.memory import recomputed_share
from fabricsim.workload.parallelism import Parallelism, RankGroups, hybrid_groups
from fabricsim.workload.per_op_checkpoint import POLICY as PER_OP
from fabricsim.workload.ring_attention import dkv_send_bytes, gathers_per_layer, kv_gather_bytes

ACTIVATION_BYTES = 2  # BF16 activations on the wire


@dataclass
class CommCall:
    """One kind of collective of the step: what, on which groups, how big, how often, how long."""

    kind: str  # tp | cp | ep | pp | dp
    what: str
    op: str
    groups: np.ndarray
    size_bytes: float
    per_micro_batch: float  # calls per micro-batch on the busiest stage (0: per step)
    per_step: float  # calls per step outside the micro-batch loop
    timing: GroupTiming | None = None
    per_layer: float = 0.0  # ZeRO-3: calls per layer and micro-batch (included in per_micro_batch)
    root: bool = False  # ZeRO-3 root unit (embeddings, output layer): around the pass, nothing to hide under
    direct: bool = False  # moved by an MoE dispatcher's own kernels (DeepEP, HybridEP), not NCCL's p2p FIFOs

    @property
    def time_s(self) -> float:
        return self.timing.time_s if self.timing else 0.0


def plan_calls(model, par: Parallelism, groups: RankGroups, seq: int, micro_batch: int, recompute: str,
               layers_here: int, moe_layers_here: int, dense_params: float, expert_params: float,
               gradient_bytes: int, in_network: bool = False, weight_tensors: list[float] = (),
               recompute_layers: int = 0, zero3_gathers: int = 2, ep_copies: float | None = None,
               persistent_tensors: list[float] = (), root_elements: float = 0.0,
               context_parallel: str = "allgather", kv_expanded: bool = False,
               gathered_bytes: tuple[float, float] | None = None, ep_row_extra_bytes: float = 0.0) -> list[CommCall]:
    """Every collective of one step, sized for the scenario (bytes).

    ZeRO-3: ``weight_tensors`` are gathered and reduce-scattered; ``persistent_tensors`` (below the
    software's persistence threshold) are only reduce-scattered; ``root_elements``, the stage's
    parameters outside its layers (FSDP's root unit: embeddings and output layer), are gathered once
    per micro-batch (FSDP2 keeps the root unsharded between forward and backward) and reduce-scattered
    after the backward.  ``gathered_bytes``: (dense, expert) bytes the distributed optimizer's weight all-gather
    moves (default BF16: 2 per parameter; primary FP8 weights move one byte per linear weight, memory.py
    gathered_weight_bytes).  ``ep_row_extra_bytes``: bytes an MoE dispatcher sends with each token row on the
    forward dispatch and the combine's backward (HybridEP's routing probabilities, ep_dispatch.py).  ``in_network``: gradients are all-reduced by the switches (SHARP) instead of reduce-scattered
    (each shard owner then updates its part of the optimizer state, so memory is unchanged).
    ``context_parallel``: the software's CP exchange (allgather | pytorch-ring); ``kv_expanded``: the
    attention call sees keys and values repeated to every query head."""
    calls = []
    tokens = micro_batch * seq / par.cp  # tokens of one micro-batch on one CP rank (before TP/SP split)
    hidden = model.hidden_size
    if par.tp > 1:
        buffer = tokens * hidden * ACTIVATION_BYTES
        # forward, backward (+ the recomputed forward); torchtitan's per-op policy keeps reduce-scatter
        # outputs and runs every all-gather and all-reduce again
        passes = 2 + recomputed_share(recompute, recompute_layers, layers_here)
        again = passes + (1 if recompute == PER_OP else 0)
        if par.sequence_parallel:
            calls.append(CommCall("tp", "all-gather (SP)", "all_gather", groups.tp, buffer,
                                  2 * again * layers_here, 0))
            calls.append(CommCall("tp", "reduce-scatter (SP)", "reduce_scatter", groups.tp, buffer,
                                  2 * passes * layers_here, 0))
        else:
            calls.append(CommCall("tp", "all-reduce", "all_reduce", groups.tp, buffer,
                                  2 * again * layers_here, 0))
    if par.cp > 1 and context_parallel == "pytorch-ring":
        calls.extend(_ring_calls(model, par, groups, seq, micro_batch, recompute, recompute_layers, layers_here,
                                 kv_expanded))
    elif par.cp > 1:
        kv = micro_batch * seq * 2 * max(1, model.kv_heads // par.tp) * model.head_dim * ACTIVATION_BYTES
        calls.append(CommCall("cp", "K/V all-gather", "all_gather", groups.cp, kv, layers_here, 0))
        calls.append(CommCall("cp", "dK/dV reduce-scatter", "reduce_scatter", groups.cp, kv,
                              layers_here, 0))
    if par.ep > 1 and moe_layers_here:
        copies = model.experts_per_token if ep_copies is None else ep_copies
        # ep_row_extra_bytes ride on two of the four all-to-alls (HybridEP's probabilities): their mean share
        per_rank = tokens / par.tp * copies * (hidden * ACTIVATION_BYTES + ep_row_extra_bytes / 2)
        recomputed = 2 if recompute == "full" else 0  # the recomputed forward dispatches and combines again
        calls.append(CommCall("ep", "MoE all-to-all", "all_to_all", groups.ep, per_rank,
                              (4 + recomputed) * moe_layers_here, 0))
    if par.pp > 1:
        # each TP rank sends 1/tp of the activation: sequence parallelism shards it, and without SP
        # Megatron's scatter/gather optimisation does the same (Narayanan et al. 2021, section 4.1)
        activation = tokens * hidden * ACTIVATION_BYTES / par.tp
        calls.append(CommCall("pp", "send/recv", "send_recv", groups.pp, activation,
                              2 * par.virtual_stages, 0))
    if par.dp * par.cp > 1:
        dp_groups, replicas = groups.dp_cp, None
        if par.hybrid and par.zero == 3:
            dp_groups, replicas = hybrid_groups(groups.dp_cp, par.dp, par.cp, par.dp_shard)
        dense_gather, expert_gather = gathered_bytes or (2 * dense_params, 2 * expert_params)
        _dp_calls(calls, par, dp_groups, dense_params, gradient_bytes, "dense", in_network, weight_tensors,
                  layers_here, zero3_gathers, persistent_tensors, root_elements, dense_gather, replicas)
        if expert_params and par.ep > 1:
            edp = groups.edp
            if edp.shape[1] > 1:
                _dp_calls(calls, par, edp, expert_params, gradient_bytes, "expert", in_network, (), layers_here,
                          gathered=expert_gather)
        elif expert_params:
            _dp_calls(calls, par, dp_groups, expert_params, gradient_bytes, "expert", in_network, (), layers_here,
                      gathered=expert_gather)
    return calls


def _ring_calls(model, par, groups, seq: int, micro_batch: int, recompute: str, recompute_layers: int,
                layers: int, kv_expanded: bool) -> list[CommCall]:
    """PyTorch's 2024 ring attention (:mod:`fabricsim.workload.ring_attention`): the K/V all-gathered in
    the forward, in a recomputed forward and in the backward; in the backward, ``cp`` hand-offs per layer of
    the FP32 dK/dV accumulators to the next rank of the CP ring (rows closed into rings: rank cp-1 sends to
    rank 0)."""
    gathered = kv_gather_bytes(model, micro_batch, seq, par.tp, kv_expanded)
    sent = dkv_send_bytes(model, micro_batch * seq / par.cp, par.tp, kv_expanded)
    passes = gathers_per_layer(recomputed_share(recompute, recompute_layers, layers))
    ring = np.concatenate([groups.cp, groups.cp[:, :1]], axis=1)
    return [CommCall("cp", "K/V all-gather (ring attention)", "all_gather", groups.cp, gathered, passes * layers, 0),
            CommCall("cp", "dK/dV hand-off, FP32 (ring attention)", "send_recv", ring, sent, par.cp * layers, 0)]


def _dp_calls(calls, par, dp_groups, params, gradient_bytes, label, in_network, weight_tensors=(),
              layers: int = 1, gathers: int = 2, persistent=(), root: float = 0.0, gathered: float | None = None,
              replicas: np.ndarray | None = None) -> None:
    """The data-parallel collectives of one kind of parameters; ``replicas``: under hybrid sharding (HSDP) the groups
    of shard-group replicas, which all-reduce each reduce-scattered gradient shard right after the reduce-scatter
    (PyTorch FSDP HYBRID_SHARD: torch/distributed/fsdp/_runtime_utils.py ``_reduce_grad``, the all-reduce over the
    inter-node group; FSDP2 ``foreach_reduce``)."""
    gathered = 2 * params if gathered is None else gathered  # bytes of the once-per-step weight all-gather
    if par.zero == 0 or (in_network and par.zero < 3):
        per_micro = par.zero == 2  # sharded gradients are reduced every micro-batch
        calls.append(CommCall("dp", f"{label} grad all-reduce", "all_reduce", dp_groups,
                              params * gradient_bytes, 1 if per_micro else 0, 0 if per_micro else 1))
        if par.zero:
            calls.append(CommCall("dp", f"{label} weight all-gather", "all_gather", dp_groups, gathered, 0, 1))
        return
    if par.zero == 3:
        # ZeRO-3 / FSDP re-gathers each weight tensor before its forward and its backward (and before a
        # recomputed forward when it releases them), per micro-batch, and reduce-scatters its gradient
        tensors = list(weight_tensors) or [params / max(1, layers)]
        shard = dp_groups.shape[1]

        def replicated(what: str, elements: float, per_micro: float, **kinds) -> None:
            if replicas is not None and replicas.shape[1] > 1:
                calls.append(CommCall("dp", f"{label} {what} shard all-reduce across replicas (HSDP)", "all_reduce",
                                      replicas, elements * gradient_bytes / shard, per_micro, 0, **kinds))

        for i, elements in enumerate(tensors):
            calls.append(CommCall("dp", f"{label} weight all-gather (ZeRO-3) {i}", "all_gather", dp_groups,
                                  elements * 2, gathers * layers, 0, per_layer=gathers))
            calls.append(CommCall("dp", f"{label} grad reduce-scatter (ZeRO-3) {i}", "reduce_scatter", dp_groups,
                                  elements * gradient_bytes, layers, 0, per_layer=1))
            replicated(f"grad {i}", elements, layers, per_layer=1)
        for i, elements in enumerate(persistent):  # kept whole: gradients reduce-scattered, never gathered
            calls.append(CommCall("dp", f"{label} persistent grad reduce-scatter (ZeRO-3) {i}", "reduce_scatter",
                                  dp_groups, elements * gradient_bytes, layers, 0, per_layer=1))
            replicated(f"persistent grad {i}", elements, layers, per_layer=1)
        if root:
            calls.append(CommCall("dp", f"{label} root weight all-gather (ZeRO-3)", "all_gather", dp_groups,
                                  root * 2, 1, 0, root=True))
            calls.append(CommCall("dp", f"{label} root grad reduce-scatter (ZeRO-3)", "reduce_scatter", dp_groups,
                                  root * gradient_bytes, 1, 0, root=True))
            replicated("root grad", root, 1, root=True)
        return
    if par.zero == 2:
        # sharded gradients: each micro-batch's gradients are reduce-scattered as its backward finishes
        calls.append(CommCall("dp", f"{label} grad reduce-scatter (per micro-batch)", "reduce_scatter", dp_groups,
                              params * gradient_bytes, 1, 0))
    else:
        calls.append(CommCall("dp", f"{label} grad reduce-scatter", "reduce_scatter", dp_groups,
                              params * gradient_bytes, 0, 1))
    calls.append(CommCall("dp", f"{label} weight all-gather", "all_gather", dp_groups, gathered, 0, 1))


def time_calls(design, fabric, calls: list[CommCall], algorithm: str, load_balancing: str | None, method: str,
               seed: int = 0, timings: dict | None = None) -> None:
    """Time every call on the fabric (flow-level, or analytic per group) and store its timing.

    Calls of the same operation, algorithm and size on the same groups share one timing, simulated
    once: ZeRO-3 issues one collective per weight tensor, and a layer's norm gains and biases all
    have ``hidden_size`` elements.  Each call keeps its own counts, so exposure sums every one.
    ``timings``: a cache shared by several plans of one step (the candidate pacing ranks of a pipeline),
    whose calls must stay alive while it is used (keys hold the groups' ids)."""
    timings = {} if timings is None else timings
    for call in calls:
        size = max(1, int(round(call.size_bytes)))
        if call.op == "send_recv":
            algo = "direct"
        else:
            algo = algorithm if call.kind == "dp" and algorithm in ALGORITHMS[call.op] else "auto"
        key = (call.op, algo, size, id(call.groups), call.direct)  # the calls hold their groups: ids stay unique
        if key not in timings:
            timings[key] = _time_call(design, fabric, call, algo, size, load_balancing, method, seed)
        call.timing = timings[key]


def _time_call(design, fabric, call: CommCall, algorithm: str, size: int, load_balancing: str | None, method: str,
               seed: int) -> GroupTiming:
    if call.op == "send_recv":
        src, dst = pipeline_boundaries_from(call.groups)
        if method == "flow":
            return time_transfers(fabric, src, dst, size, load_balancing, seed=seed)
        return _analytic(design, "send_recv", "direct", np.stack([src, dst], 1), size, load_balancing)
    if method == "flow":
        return time_groups(fabric, call.op, algorithm, call.groups, size, load_balancing, seed=seed, direct=call.direct)
    return _analytic(design, call.op, algorithm, call.groups, size, load_balancing, call.direct)


def pipeline_boundaries_from(pp_groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return pp_groups[:, :-1].ravel(), pp_groups[:, 1:].ravel()


def _analytic(design, op, algorithm, groups, size, load_balancing, direct: bool = False) -> GroupTiming:
    from fabricsim.collectives.concurrent import time_groups_analytic

    return time_groups_analytic(design, op, algorithm, groups, size, load_balancing, direct=direct)


__all__ = ["CommCall", "plan_calls", "time_calls"]
