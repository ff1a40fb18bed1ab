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


def distinct_targets(units: int, k: int) -> float:
    """Expected distinct units (GPUs or nodes) among a token's ``k`` experts when the experts are spread
    uniformly over ``units`` equal units: ``units (1 - (1 - 1/units)^k)``."""
    return units * (1 - (1 - 1 / units) ** k)


def dispatch_copies(model, par, gpus_per_node: int, node_limit: int | None) -> float:
    """Token copies one token sends over the network per dispatch (and gathers back per combine).

    Megatron's all-to-all dispatcher sends one copy per routed expert: ``k``.  DeepSeek-V3's
    node-limited routing (report section 2.1.2: each token to at most ``M`` = 4 nodes) with
    DeepEP's dispatch sends one copy per *target node* over InfiniBand and forwards it to the
    experts of that node over NVLink: with the EP group spanning ``N`` nodes and experts spread
    uniformly, a token's k experts fall on ``N (1 - (1 - 1/N)^k)`` distinct nodes on average,
    capped at ``M``.  When the whole EP group sits in one node there is no InfiniBand leg: DeepEP's
    intranode dispatch sends one copy per *target GPU* over NVLink (``get_dispatch_layout``:
    ``is_token_in_rank`` is [tokens x ranks]), ``ep (1 - (1 - 1/ep)^k)`` of them."""
    k = model.experts_per_token
    if not node_limit:
        return float(k)
    ranks = par.ep * par.etp
    nodes = max(1, -(-ranks // gpus_per_node))
    if nodes == 1:
        return float(min(k, distinct_targets(ranks, k)))
    return float(min(k, node_limit, distinct_targets(nodes, k)))

__all__ = ["expert_load", "dispatch_copies", "distinct_targets"]
