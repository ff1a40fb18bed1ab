"""Mixture-of-experts routing: how many token copies the busiest GPU's experts multiply.

A micro-batch of ``tokens`` (per CP rank) is split over TP by sequence parallelism; with expert
tensor parallelism ``etp`` each group of ``etp`` GPUs sharing the same experts gathers its
members' shards.  Every token is routed to ``k`` of ``E`` experts; an EP group of ``ep`` GPUs
holds ``E / ep`` experts each.  With perfectly balanced routing each local expert receives

    tokens_per_expert = tokens / tp x etp x k x ep / E

token copies.  The busiest GPU receives ``routing_imbalance`` times the mean (1.0 when routing is
forced to balance, as in Megatron-Bridge's MoE benchmarks; measured maxima in production are
higher), and the step waits for it.
"""

from __future__ import annotations


def expert_load(model, par, tokens: float, spec) -> tuple[float, float]:
    """(token copies per local expert, token copies over all local experts) of the busiest GPU."""
    imbalance = getattr(spec, "routing_imbalance", 1.0) or 1.0
    per_expert = tokens / par.tp * par.etp * model.experts_per_token * par.ep / model.routed_experts * imbalance
    local = model.routed_experts / par.ep
    return per_expert, per_expert * local


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


def dispatcher_for(dispatcher: str | None, node_limit: int | None) -> str:
    """The token dispatcher a job runs: as given, else DeepEP with DeepSeek-style node-limited routing
    (the pair DeepSeek-V3 designed together) and Megatron's all-to-all otherwise."""
    if dispatcher:
        return dispatcher
    return "deepep" if node_limit else "alltoall"


def forwarding_domain(dispatcher: str, scale_up_gpus: int, gpus_per_server: int) -> int:
    """GPUs a flex dispatcher reaches over NVLink before it needs the scale-out network: HybridEP spans a
    whole NVLink domain (multi-node NVLink such as GB200 NVL72, Megatron-Bridge flex_dispatcher_backend.py);
    DeepEP's intranode kernels one server."""
    return scale_up_gpus if dispatcher == "hybridep" else min(scale_up_gpus, gpus_per_server)


def dispatch_copies(model, par, gpus_per_node: int, node_limit: int | None, dispatcher: str | None = None) -> float:
    """Token copies one token sends over the network per dispatch (and gathers back per combine).

    Megatron's all-to-all dispatcher sends one copy per routed expert: ``k``.  The flex dispatchers
    (Megatron-Core ``moe_token_dispatcher_type: flex`` with ``moe_flex_dispatcher_backend`` DeepEP
    or HybridEP) send one copy per *target node* over the scale-out network and forward it to the
    experts of that node over NVLink: with the EP group spanning ``N`` nodes and experts spread
    uniformly, a token's k experts fall on ``N (1 - (1 - 1/N)^k)`` distinct nodes on average,
    capped by node-limited routing at ``M`` (DeepSeek-V3 report section 2.1.2: ``M`` = 4).  When
    the whole EP group sits in one node there is no scale-out leg: the intranode dispatch sends
    one copy per *target GPU* over NVLink (DeepEP ``get_dispatch_layout``: ``is_token_in_rank`` is
    [tokens x ranks]), ``ep (1 - (1 - 1/ep)^k)`` of them."""
    k = model.experts_per_token
    if dispatcher_for(dispatcher, node_limit) == "alltoall":
        return float(k)
    node_limit = node_limit or k
    ranks = par.ep * par.etp
    nodes = max(1, -(-ranks // gpus_per_node))
    if nodes == 1:
        return float(min(k, distinct_targets(ranks, k)))
    return float(min(k, node_limit, distinct_targets(nodes, k)))

__all__ = ["expert_load", "dispatch_copies", "dispatcher_for", "distinct_targets", "forwarding_domain"]
