"""Validation cases below the step: one kernel as fabricsim times it inside a training layer, against a
published microbenchmark of that kernel.

``gemm`` setup: ``gemm`` = {``groups`` (GEMMs of the same shape, one per expert), ``m``, ``n``, ``k``,
``precision`` (bf16 | fp8 | fp4), ``fp8_recipe`` (``mxfp8`` for block-scaled FP8 operands; default per-tensor),
``implementation`` (``multi-stream``: Transformer Engine GroupedLinear's one cuBLAS
GEMM per group over the software profile's ``expert_gemm_streams``; ``grouped``: one grouped kernel for all
groups, CUTLASS / DeepGEMM; ``single``: one plain GEMM, groups 1), ``software`` (profile, default
megatron-core-2025)} on the scenario's GPU; metric ``flops_per_s``: 2 m n k x groups over the time.  Instead of
``m``, ``n``, ``k``: ``shapes``, a list of [m, n, k] run one after another as single GEMMs (a benchmark that
reports the summed time of a layer's GEMMs); the metric is then their FLOPs over their summed time.  The time
is what a layer charges for that grouped linear (:func:`fabricsim.workload.gemm.gemm_seconds` for the groups sharing the SMs, plus the software profile's
``kernel_overhead_s`` per launch gap that :func:`fabricsim.workload.kernels.grouped_linear_kernels` counts), with
the GPU's sustained-compute ratio at 1: a microbenchmark runs one kernel on an otherwise idle GPU, not a loaded
node through a training step.
"""

from __future__ import annotations

from fabricsim.errors import FabricsimError

IMPLEMENTATIONS = ("multi-stream", "grouped", "single")


def gemm_flops_per_s(setup, scenario) -> float:
    """FLOP/s of the case's GEMMs as a training layer times them on the scenario's GPU (module docstring)."""
    from fabricsim.workload import catalog_entry
    from fabricsim.workload.gemm import gemm_seconds, rates_for
    from fabricsim.workload.kernels import grouped_linear_kernels

    spec = dict(setup.model_extra.get("gemm", {}))
    precision = spec.get("precision", "bf16")
    profile = catalog_entry(scenario, "software", spec.get("software", "megatron-core-2025"), "setup.gemm.software")
    gpu = scenario.catalog().get("gpus", scenario.cluster.gpu).model_copy(update={"sustained_compute_ratio": 1.0})
    rates = rates_for(gpu, precision, profile.kernel_efficiency, spec.get("fp8_recipe"))
    if "shapes" in spec:  # single GEMMs run one after another, each with its own launch gap
        shapes = [tuple(int(x) for x in shape) for shape in spec["shapes"]]
        seconds = sum(float(gemm_seconds(m, n, k, rates)) + profile.kernel_overhead_s for m, n, k in shapes)
        return sum(2.0 * m * n * k for m, n, k in shapes) / seconds
    implementation = spec.get("implementation", "multi-stream")
    if implementation not in IMPLEMENTATIONS:
        raise FabricsimError(f"setup.gemm.implementation={implementation!r}: use {' or '.join(IMPLEMENTATIONS)}")
    groups, m, n, k = (int(spec.get(key, 1)) for key in ("groups", "m", "n", "k"))
    if implementation == "single" and groups != 1:
        raise FabricsimError(f"setup.gemm.groups={groups}: a single GEMM has one group")
    streams = profile.expert_gemm_streams if implementation == "multi-stream" else None
    # the GEMMs' own launch gaps (no quantization: a GEMM microbenchmark feeds quantized operands)
    gaps = grouped_linear_kernels(groups, False, profile.fp8_recipe, streams).gaps_forward
    seconds = float(gemm_seconds(m, n, k, rates, groups)) + gaps * profile.kernel_overhead_s
    return 2.0 * m * n * k * groups / seconds


__all__ = ["IMPLEMENTATIONS", "gemm_flops_per_s"]
