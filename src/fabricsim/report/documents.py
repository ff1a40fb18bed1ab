"""Machine-readable documents of each command's result: what ``--json`` prints and the web API returns.

One function per command, on the result objects of the Python API; the values are those objects'
own (SI units: seconds, bytes, bits/s, W, USD).  :func:`fabricsim.io.to_jsonable` turns a document
into plain JSON types.
"""

from __future__ import annotations


def catalog_document(catalog, sections) -> dict:
    """``fabricsim catalog list --json``: every entry of the named sections with its figures and sources."""
    for section in sections:
        if section not in catalog.sections:
            from fabricsim.errors import FabricsimError

            raise FabricsimError(f"unknown catalog section {section!r}; valid sections: "
                                 f"{', '.join(sorted(catalog.sections))}")
    return {s: {n: e.model_dump() for n, e in catalog.sections[s].items()} for s in sections}


def cost_range_summary(ranges) -> dict | None:
    """Capex, network shares and $/M tokens low/middle/high (a CostRange without its per-item table)."""
    return None if ranges is None else {k: v for k, v in vars(ranges).items() if k != "items"}


def plan_document(plan, optics_options, cost_range=None) -> dict:
    """``fabricsim plan --json``: the bill of materials, the optics families side by side, the cost range."""
    return {"plan": plan.to_dict(), "optics_options": optics_options, "cost_range": cost_range_summary(cost_range)}


def reliability_summary(result) -> dict:
    """Interruption interval, rates by class, checkpointing and goodput of a ReliabilityResult."""
    return {"mtbi_s": result.mtbi_s, "interruptions_per_hour_by_class": result.interruptions_per_hour_by_class,
            "stops_job": result.stops_job, "counts": result.counts,
            "checkpoint_interval_s": result.policy.interval_for(result.mtbi_s),
            "checkpoint_bytes": result.policy.size_bytes, "restart_s": result.policy.restart_s,
            "expected_goodput": result.expected_goodput,
            "monte_carlo": result.monte_carlo.summary() if result.monte_carlo is not None else None}


def reliability_document(result, optics_options=()) -> dict:
    """``fabricsim reliability --json`` (``optics_options``: the optics families judged by failures), with the
    Monte Carlo runs simulated and why they were fewer than requested, if they were."""
    runs = result.monte_carlo.runs if result.monte_carlo is not None else 0
    capped = result.monte_carlo.capped if result.monte_carlo is not None else ""
    return {**reliability_summary(result), "optics_options": list(optics_options), "monte_carlo_runs": runs,
            "notes": [capped] * bool(capped)}


def training_document(result) -> dict:
    """``fabricsim train --json``: step time, its breakdown, throughput, MFU, GEMMs and every collective."""
    return {
        "model": result.model, "gpus": result.gpus, "parallelism": result.parallelism,
        "micro_batches": result.micro_batches, "pipeline_schedule": result.schedule, "recompute": result.recompute,
        "communication": result.communication, "load_balancing": result.load_balancing,
        "step_time_s": result.step_time_s, "breakdown_s": result.breakdown_s,
        "tokens_per_s": result.tokens_per_s, "model_flops_per_s_per_gpu": result.model_flops_per_s_per_gpu,
        "mfu": result.mfu, "memory_bytes": result.memory.as_dict(), "notes": result.notes,
        "software": result.software,
        "stage_layers": list(result.layout.layers) if result.layout else None,
        "micro_batch_s": {"gemm": result.stage.gemm_s, "attention": result.stage.attention_s,
                          "memory_bound": result.stage.memory_s, "launch_gaps": result.stage.launch_s,
                          "host_bound": result.stage.host_bound_s, "recompute": result.stage.recompute_s,
                          "forward": result.stage.forward_s, "backward": result.stage.backward_s} if result.stage else None,
        "gemms": [{"name": g.name, "m": g.m, "n": g.n, "k": g.k, "batch": g.batch, "seconds": sec, "of_peak": share}
                  for g, sec, share in (result.stage.gemms if result.stage else [])],
        "exposed_per_micro_batch_s": result.exposure.per_micro if result.exposure else None,
        "hidden_per_micro_batch_s": result.exposure.hidden_per_micro if result.exposure else None,
        "collectives": [{"kind": c.kind, "what": c.what, "op": c.op, "algorithm": c.timing.algorithm,
                         "groups": c.timing.groups, "ranks": c.timing.ranks, "size_bytes": c.size_bytes,
                         "per_micro_batch": c.per_micro_batch, "per_step": c.per_step, "time_s": c.timing.time_s,
                         "busbw_bytes_per_s": c.timing.busbw_bytes_per_s, "delivered": c.timing.delivered}
                        for c in result.calls],
    }


def inference_document(result) -> dict:
    """``fabricsim infer --json``."""
    return result.as_dict()


def collective_document(report, lost_capacity: dict | None = None) -> dict:
    """``fabricsim collective --json``: per-size times and bus bandwidth (``lost_capacity`` by tier when links
    were failed first)."""
    out = {k: v for k, v in vars(report).items() if k != "gpus"}
    if lost_capacity is not None:
        out["lost_capacity"] = lost_capacity
    return out


def run_document(result) -> dict:
    """``fabricsim run --json``: plan, cost, collectives, training step, reliability, optics choices."""
    return {"scenario": result.scenario, "plan": result.plan.to_dict(), "tco": result.tco,
            "tco_shares": {"network_capex": result.tco.network_capex_share,
                           "network_power": result.tco.network_power_share},
            "collectives": result.collectives, "optics_options": result.optics, "notes": result.notes,
            "training": training_document(result.training) if result.training else None,
            "step_time_by_load_balancing": result.step_time_by_load_balancing,
            "bandwidth_tax": result.bandwidth_tax, "usd_per_million_tokens": result.usd_per_million_tokens,
            "reliability": reliability_summary(result.reliability) if result.reliability else None,
            "reliability_vs_size": result.scaling, "optics_failures_per_month": result.optics_failures,
            "cost_range": cost_range_summary(result.cost_range)}
