"""Fabric what-ifs: rerun one training step with only the fabric changed, and say what moved.

Variants: the other load-balancing policies (ECMP, packet spraying), in-network reduction for
data-parallel collectives (where the switches reduce), and a 2:1 oversubscribed leaf.  The
explanation names the breakdown entries that changed most and the simulated busbw of the
collective behind them.  :func:`step_time_by_load_balancing` gives the step under ECMP and spraying
(the bandwidth tax's two ends) without rerunning the policy the step already used.
"""

from __future__ import annotations

from fabricsim.errors import FabricsimError


def _explain(base, other) -> str:
    deltas = sorted(((other.breakdown_s.get(k, 0.0) - v, k) for k, v in base.breakdown_s.items()),
                    key=lambda kv: -abs(kv[0]))
    moved = [f"{name} {delta:+.3f} s" for delta, name in deltas[:2] if abs(delta) > 1e-4]
    if not moved:
        return "no breakdown entry moved by more than 0.1 ms"
    busbw = []
    for a, b in zip(base.calls, other.calls):
        if a.timing and b.timing and abs(b.timing.time_s - a.timing.time_s) > 0.02 * a.timing.time_s:
            how = a.timing.algorithm if (a.op, a.timing.algorithm) == (b.op, b.timing.algorithm) else \
                f"{a.op} {a.timing.algorithm} -> {b.op} {b.timing.algorithm}"
            busbw.append(f"{a.kind.upper()} {a.what} ({how}) {a.timing.time_s * 1e3:.3g} -> "
                         f"{b.timing.time_s * 1e3:.3g} ms")
    return "; ".join(moved + busbw[:2])


def _with_sharp(scenario):
    """The scenario with switch reduction (SHARP) enabled for the collective library, and NVLink SHARP
    where the scale-up switch reduces too."""
    catalog = scenario.catalog()
    gpu = catalog.gpu(scenario.cluster.gpu)
    scale_up = catalog.scale_up(scenario.cluster.scale_up or gpu.default_scale_up)
    setting = "nvls+sharp" if scale_up.in_network_reduction else "sharp"
    return scenario.model_copy(update={"fabric": scenario.fabric.model_copy(update={"in_network_reduction": setting})})


def step_time_by_load_balancing(scenario, fabric, step, policies=("ecmp", "spray"), **overrides) -> dict[str, float]:
    """Step seconds under ``step``'s own load balancing and under each of ``policies``: ``step`` (the
    scenario's TrainingResult) is reused, the other policies rerun on ``fabric`` with ``overrides``."""
    from fabricsim.workload import train

    times = {step.load_balancing: step.step_time_s}
    for policy in policies:
        if policy not in times:
            times[policy] = train(scenario, fabric=fabric, **overrides, load_balancing=policy).step_time_s
    return times


def fabric_what_ifs(scenario, overrides: dict, base) -> list[dict]:
    """Step time and MFU of each fabric variant next to ``base`` (a TrainingResult)."""
    from fabricsim.workload import train

    fixed = {k: v for k, v in overrides.items() if v is not None}
    variants = []
    for policy in ("ecmp", "spray", "flowlet"):
        if policy != base.load_balancing:
            variants.append((f"load balancing {base.load_balancing} -> {policy}", scenario,
                             {**fixed, "load_balancing": policy}))
    variants.append(("DP collectives -> in-network reduction (SHARP)", _with_sharp(scenario),
                     {**fixed, "algorithm": "in_network"}))
    fabric = scenario.fabric.model_copy(update={"oversubscription": [2.0, 1.0]})
    variants.append(("leaf oversubscribed 2:1", scenario.model_copy(update={"fabric": fabric}), fixed))
    rows = []
    for change, variant, kwargs in variants:
        try:
            result = train(variant, **kwargs)
        except FabricsimError as exc:
            rows.append({"change": change, "error": str(exc).split(";")[0]})
            continue
        rows.append({"change": change, "step_time_s": result.step_time_s, "mfu": result.mfu,
                     "breakdown_s": result.breakdown_s, "explanation": _explain(base, result)})
    return rows
