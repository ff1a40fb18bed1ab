"""ZeRO-3 as DeepSpeed's 2021 parameter coordinator runs it: module by module, host-synchronous.

Modern FSDP stacks gather a whole layer ahead and let the CPU run ahead of the GPU; DeepSpeed's
stage-3 coordinator of 2021 (releases 0.3.13 to 0.5.x, ``runtime/zero/stage3.py`` and
``runtime/zero/partition_parameters.py``) does not.  What it does, and what this module times:

* **Persistence.**  Parameters below ``stage3_param_persistence_threshold`` (1e5 elements: biases,
  norm gains) stay whole on every rank: never gathered, but their gradients are reduce-scattered.
* **Fetch and prefetch.**  Before a module runs (forward, recomputed forward, backward) its
  partitioned weight is all-gathered unless already there; after the fetch the coordinator issues
  the gather of the *next* module's weights (``stage3_prefetch_bucket_size`` elements, at least one
  whole parameter) -- but only while fewer than ``stage3_max_live_parameters`` elements are gathered.
  A module's weights are released after use unless it is used again within
  ``stage3_max_reuse_distance`` elements (the last module of a recomputed layer is reused by its
  backward at once).
* **Host-synchronous.**  Every fetch ends in ``torch.cuda.synchronize()`` and every release copies
  a placeholder to the device with a blocking copy, so the CPU never runs ahead: host work between
  two modules is GPU idle time.  A prefetched gather overlaps only the current module's compute.
* **Per-rank host and device work of a collective.**  Each gather builds one view per rank in
  Python and PyTorch 1.8's list-based ``all_gather`` copies the flat result back into those views,
  one copy per rank (``ProcessGroupNCCL::allgather``); each reduce-scatter builds a view per rank and
  ``reduce_scatter`` flattens them, one copy per rank.  A collective therefore costs the host
  ``zero3_host_s_per_call + ranks x zero3_host_s_per_rank`` and the device one small copy kernel
  per rank (``kernel_overhead_s`` each) -- linear in the number of GPUs, at every layer.
* **After the optimizer step** the persistent parameters are gathered again, copied rank by rank
  in Python (``_allgather_params``): ``persistent parameters x ranks`` more host work per step.

Collective transfer times come from the collective layer (the library's cost model on the
fabric), one per distinct tensor size.  Seconds and elements throughout.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.workload.compute import layer_work
from fabricsim.workload.layers import dense_layer_gemms
from fabricsim.workload.memory import recomputed_layers


@dataclass(frozen=True)
class FetchModule:
    """One module of a layer that owns parameters (a linear layer, with the norm before it)."""

    gathered: float  # elements of its partitioned weight on one TP rank (0: all below the threshold)
    persistent: tuple[float, ...]  # elements of its parameters kept whole (bias, the preceding norm)
    forward_s: float  # compute from this module's fetch to the next one's, forward
    backward_s: float  # backward compute attributed to this module


@dataclass(frozen=True)
class CoordinatorTiming:
    """One micro-batch through the coordinator, and what the step adds once."""

    exposed_s: float  # per micro-batch: time beyond compute (host work + unhidden collectives)
    host_s: float  # of which the GPU waited for the host (issue, views, copies)
    collective_s: float  # of which the GPU waited for a gather or reduce-scatter
    hidden_s: float  # collective time that ran under compute
    gathers: int  # all-gathers issued per micro-batch
    reduce_scatters: int  # reduce-scatters issued per micro-batch
    post_step_s: float  # once per step: persistent parameters gathered after the optimizer step
    gathers_by_size: dict = field(default_factory=dict)  # elements -> all-gathers per micro-batch
    reduces_by_size: dict = field(default_factory=dict)  # elements -> reduce-scatters per micro-batch


def layer_modules(gemms, rows, forward_s: float, backward_s: float, hidden: int, biases: bool,
                  threshold: float) -> list[FetchModule]:
    """The parameter-owning modules of one dense layer, in forward order.

    ``gemms``: the layer's GEMMs per TP rank (:func:`fabricsim.workload.layers.dense_layer_gemms`);
    ``rows``: their seconds (forward + backward) in the same order; ``forward_s``/``backward_s``:
    the layer's compute, shared out in proportion to the GEMM seconds (the attention core and the
    elementwise kernels run between the same fetches).  A norm's gain (and bias) is counted with
    the first GEMM it feeds."""
    total = sum(rows) or 1.0
    modules, after_norm = [], False
    for g, seconds in zip(gemms, rows):
        params = [g.n * g.k] + ([g.n] if biases else [])
        if g.follows_norm and not after_norm:
            params += [hidden] * (2 if biases else 1)
        after_norm = g.follows_norm
        gathered = sum(p for p in params if p >= threshold)
        persistent = tuple(p for p in params if p < threshold)
        share = seconds / total
        modules.append(FetchModule(gathered, persistent, forward_s * share, backward_s * share))
    return modules


def _trace(layers: int, modules: int, recomputed: int) -> list[tuple[int, int, str]]:
    """(layer, module, pass) in the order the coordinator sees them: forward through every layer, then
    per layer from the last: the recomputed forward (the first ``recomputed`` layers) and the backward."""
    trace = [(layer, i, "f") for layer in range(layers) for i in range(modules)]
    for layer in reversed(range(layers)):
        if layer < recomputed:
            trace += [(layer, i, "r") for i in range(modules)]
        trace += [(layer, i, "b") for i in reversed(range(modules))]
    return trace


def coordinate(modules: list[FetchModule], layers: int, recomputed: int, ranks: int,
               gather_s: Callable[[float], float], reduce_s: Callable[[float], float], profile) -> CoordinatorTiming:
    """Time one micro-batch of ``layers`` identical layers through the coordinator (see the module
    docstring).  ``recomputed``: layers whose forward is recomputed before their backward;
    ``gather_s``/``reduce_s``: collective seconds of a tensor of so many elements."""
    if ranks < 1 or layers < 1 or not modules:
        raise FabricsimError("ZeRO-3 coordinator needs at least one rank, one layer and one module")
    trace = _trace(layers, len(modules), recomputed)
    size = np.array([modules[i].gathered + sum(modules[i].persistent) for _, i, _ in trace])
    reach = np.concatenate([[0.0], np.cumsum(size)])  # elements used before each trace step
    next_use, seen = [None] * len(trace), {}
    for k in range(len(trace) - 1, -1, -1):
        key = trace[k][:2]
        next_use[k], seen[key] = seen.get(key), k

    per_call = profile.zero3_host_s_per_call
    issue = per_call + ranks * profile.zero3_host_s_per_rank  # host work of one list-based collective
    copies = ranks * profile.kernel_overhead_s  # the device's per-rank copies of one collective
    prefetch_limit = profile.zero3_prefetch_elements or 0.0
    status: dict = {}  # (layer, module) -> gathered | inflight (absent: partitioned)
    live = 0.0
    host = compute = comm = 0.0  # clocks: CPU, compute stream, communication stream
    busy = compute_total = host_wait = comm_wait = 0.0
    gathers, reduces = Counter(), Counter()

    def issue_gather(elements: float) -> None:
        nonlocal host, comm, busy
        start = host + issue / 2  # the views are built in Python before the NCCL call is enqueued
        host += issue
        t = gather_s(elements)
        comm = max(max(comm, start) + t + copies, host)  # the copies follow the transfer, as issued
        busy += t
        gathers[elements] += 1

    for k, (layer, i, phase) in enumerate(trace):
        module, key = modules[i], trace[k][:2]
        state = status.get(key)
        if module.gathered and state is None:  # fetch: gather now
            idle_from = max(host, compute)
            issue_gather(module.gathered)
            live += module.gathered
            host_wait += max(0.0, host - idle_from)
            state = "inflight"
        if state == "inflight":  # wait for the gather, then synchronize the device
            ready = max(host, comm, compute)
            comm_wait += max(0.0, comm - max(host, compute))
            host = ready
        if module.gathered:
            status[key] = "gathered"
        limit = profile.zero3_max_live_elements
        if prefetch_limit and (limit is None or live < limit):  # prefetch what comes next
            fetched = 0.0
            for later in range(k + 1, len(trace)):
                other = trace[later][:2]
                if modules[other[1]].gathered and status.get(other) is None:
                    idle_from = max(host, compute)
                    issue_gather(modules[other[1]].gathered)
                    host_wait += max(0.0, host - idle_from)
                    status[other] = "inflight"
                    live += modules[other[1]].gathered
                    fetched += modules[other[1]].gathered
                    if fetched >= prefetch_limit:
                        break
        seconds = module.forward_s if phase != "b" else module.backward_s
        compute = max(compute, host) + seconds
        compute_total += seconds
        if phase == "b":  # gradients reduce-scattered from the grad hooks while the backward runs
            for elements in ((module.gathered,) if module.gathered else ()) + module.persistent:
                host += issue
                t = reduce_s(elements)
                comm = max(comm, host) + copies + t
                busy += t
                reduces[elements] += 1
        reuse = next_use[k]
        keep = reuse is not None and reach[reuse] - reach[k + 1] < profile.zero3_max_reuse_distance
        if module.gathered and not keep:  # release: a blocking copy waits for the compute stream
            status.pop(key, None)
            live -= module.gathered
            host = max(host, compute)
    end = max(host, compute, comm)
    exposed = end - compute_total
    hidden = max(0.0, busy - comm_wait)
    persistent = sum(len(m.persistent) for m in modules) * layers
    post = persistent * ranks * profile.zero3_host_s_per_rank + (per_call if persistent else 0.0)
    return CoordinatorTiming(exposed, host_wait, comm_wait, hidden, sum(gathers.values()), sum(reduces.values()), post,
                             dict(gathers), dict(reduces))


def fetch_modules(model, gpu, shape, profile, tp: int, spec) -> list:
    """The parameter-owning modules of one dense layer as DeepSpeed's 2021 ZeRO-3 coordinator fetches them."""
    if model.routed_experts:
        raise FabricsimError(f"workload.train.software={spec.software}: its ZeRO-3 coordinator is modelled for dense "
                             f"models only ({model.name} has routed experts); use zero <= 2 or another software profile")
    work = layer_work(model, gpu, shape, profile, False, spec.attention_efficiency)
    rows = [seconds for _, seconds, _ in work.gemms]
    return layer_modules(dense_layer_gemms(model, 1, tp), rows, work.forward, work.backward, model.hidden_size,
                         model.has_biases, profile.zero3_persistence_threshold)


def coordinate_calls(modules, calls, recompute: str, recompute_layers: int, layers: int, par, spec, profile):
    """One micro-batch of the stage's layers through the coordinator, with the simulated collective times
    (``recompute_layers``: with 'full', the layers recomputed among ``layers``, 0 all of them)."""
    gather = {round(c.size_bytes / 2): c.time_s for c in calls if c.kind == "dp" and c.per_layer and c.op == "all_gather"}
    reduce = {round(c.size_bytes / spec.gradient_reduce_bytes): c.time_s for c in calls
              if c.kind == "dp" and c.per_layer and c.op == "reduce_scatter"}
    recomputed = recomputed_layers(recompute, recompute_layers, layers)
    timing = coordinate(modules, layers, recomputed, par.dp * par.cp, lambda e: gather[round(e)],
                        lambda e: reduce[round(e)], profile)
    for c in calls:  # report what the coordinator issued
        if c.kind == "dp" and c.per_layer:
            counts = timing.gathers_by_size if c.op == "all_gather" else timing.reduces_by_size
            elements = c.size_bytes / (2 if c.op == "all_gather" else spec.gradient_reduce_bytes)
            c.per_micro_batch = sum(n for e, n in counts.items() if round(e) == round(elements))
            c.per_layer = c.per_micro_batch / layers
    return timing


__all__ = ["FetchModule", "CoordinatorTiming", "layer_modules", "coordinate", "fetch_modules", "coordinate_calls"]
