"""How much of each kind of communication a training step waits for, and what overlapping costs.

Per micro-batch on the busiest stage (seconds), from the simulated time of every collective:

* **TP** (all-gather / reduce-scatter around every block): exposed, unless the software profile
  overlaps it (Transformer Engine userbuffers): then it is cut into ``tp`` chunks that stream
  under the GEMMs that consume or produce them, and only what the stage's GEMMs cannot cover --
  at least the first chunk -- is exposed.  ``tp_comm_overlap`` (a share) overrides.
* **CP** K/V all-gathers and **PP** sends: exposed (1F1B waits for them); DualPipe hides PP sends
  under the paired forward/backward chunk, and an interleaved schedule with ``pp_comm_overlap``
  (Megatron-Core ``overlap_p2p_comm``) under the next chunk's compute, but for what exceeds it.
  PyTorch's ring attention traced by ``torch.compile`` waits for each of its collectives where it
  is issued (:mod:`fabricsim.workload.ring_attention`).
* **EP** all-to-alls: exposed but for ``ep_comm_overlap`` (DualPipe: all hidden), or under Megatron-Core's
  merged 1F1B what its phases cannot hide (:mod:`fabricsim.workload.a2a_overlap`).
* **DP**: per step (ZeRO-0/1) the gradient reduction overlaps the last backward and the weight
  gather the first forward; per micro-batch (ZeRO-2) the reductions queue behind each backward
  and run on under the following micro-batches, so only what exceeds a micro-batch's compute waits; ZeRO-3 gathers layer by layer with one layer of prefetch, so a layer's gather hides
  behind the previous layer's compute and the first gather of every pass is exposed -- or, for
  DeepSpeed's 2021 coordinator, as :mod:`fabricsim.workload.zero3_fetch` times it module by module.
  The root unit (embeddings, output layer) is gathered before the first layer can start, every
  micro-batch, and its gradients are reduced after the last layer's backward: the last
  micro-batch's reduction waits, the others run under the next micro-batch.

**Overlap is not free**: while a communication kernel runs beside the GEMMs it occupies
``comm_sms`` of the GPU's SMs (NCCL channels, userbuffers; an expert dispatcher's own SM count for DeepEP and
HybridEP), so compute slows by ``comm_sms / sm_count`` for as long as the overlap lasts (``slowdown``) -- or, for data-parallel
collectives beside GEMMs that run persistent grids with a static tile share (Hopper cuBLAS), by the stretch of the GEMMs
whose blocks wait for the held SMs (:mod:`fabricsim.workload.persistent_gemm`); and FSDP2 copies its flat
communication buffers on the compute stream (:func:`flat_buffer_copy_s`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabricsim.workload.persistent_gemm import mean_gemm_kernel_s, overlap_cost_s


@dataclass(frozen=True)
class Exposure:
    per_micro: dict[str, float]  # exposed seconds per micro-batch by kind (tp, cp, ep, pp, dp)
    dp_per_step: float  # exposed DP seconds once per step (ZeRO-0/1 reduction and gather)
    slowdown_per_micro: float  # compute lost to communication kernels' SMs, per micro-batch
    hidden_per_micro: dict[str, float] = field(default_factory=dict)  # overlapped seconds by kind


def _sum(calls, kind: str) -> float:
    """Seconds per micro-batch of the calls of one ``kind``."""
    total = 0.0
    for c in calls:
        if c.kind == kind:
            total += c.time_s * c.per_micro_batch
    return total


def expose(calls, stage, layers: int, micro_batches: int, par, gpu, profile, tp_overlap_share: float | None,
           ep_overlap_share: float, dp_overlap: bool, layer_elements: float = 0.0, coordinator=None,
           pp_hidden: bool = False, pp_overlap: bool | None = None, ep_exposed: float | None = None,
           ep_sms: int | None = None) -> Exposure:
    """Exposed and hidden communication of one step (see the module docstring); ``pp_hidden``: the
    schedule overlaps pipeline sends with compute (DualPipe); ``pp_overlap``: overrides the profile's
    ``pp_comm_overlap`` (interleaved schedules only); ``ep_exposed``: the all-to-all seconds per micro-batch
    Megatron-Core's merged 1F1B leaves exposed (:mod:`fabricsim.workload.a2a_overlap`), in place of the share;
    ``ep_sms``: SMs the expert dispatcher's kernels take while hidden (DeepEP, HybridEP), else the profile's."""
    exposed, hidden = {}, {}
    tp = _sum(calls, "tp")
    if tp_overlap_share is not None:
        exposed["tp"] = tp * (1 - tp_overlap_share)
    elif profile.tp_comm_overlap and par.tp > 1:
        exposed["tp"] = max(tp - stage.gemm_s, tp / par.tp)
    else:
        exposed["tp"] = tp
    hidden["tp"] = tp - exposed["tp"]
    exposed["cp"] = _sum(calls, "cp")
    ep = _sum(calls, "ep")
    exposed["ep"] = ep * (1 - ep_overlap_share) if ep_exposed is None else min(ep, ep_exposed)
    hidden["ep"] = ep - exposed["ep"]
    pp = _sum(calls, "pp")
    if pp_hidden:
        exposed["pp"] = 0.0
    elif (profile.pp_comm_overlap if pp_overlap is None else pp_overlap) and par.virtual_stages > 1:
        exposed["pp"] = max(0.0, pp - stage.total_s)
    else:
        exposed["pp"] = pp
    hidden["pp"] = pp - exposed["pp"]
    prefetch = 1.0 if profile.zero3_prefetch_elements is None or not layer_elements else \
        min(1.0, profile.zero3_prefetch_elements / layer_elements)
    dp = _data_parallel(calls, stage, layers, micro_batches, dp_overlap, prefetch, coordinator)
    exposed["dp"], hidden["dp"], dp_step = dp.micro_exposed, dp.micro_hidden, dp.step_exposed
    share = profile.comm_sms / gpu.sm_count
    ep_share = share if ep_sms is None else ep_sms / gpu.sm_count
    slowdown = share * (sum(hidden.values()) - hidden["ep"] - hidden["dp"]) + ep_share * hidden["ep"]
    persistent = gpu.gemm_static_persistent and not profile.gemm_sm_carveout
    gemm_share, gemm_kernel = stage.gemm_s / max(stage.total_s, 1e-12), mean_gemm_kernel_s(stage)
    slowdown += overlap_cost_s(dp.micro_hidden, dp.micro_windows, gemm_share, gemm_kernel, share, persistent)
    slowdown += overlap_cost_s(dp.step_hidden, dp.step_windows, gemm_share, gemm_kernel, share,
                               persistent) / micro_batches
    return Exposure(exposed, dp_step, slowdown, hidden)


@dataclass(frozen=True)
class _DataParallel:
    """Data-parallel communication of one step (seconds), and the separate calls the hidden part runs in."""

    micro_exposed: float
    micro_hidden: float
    step_exposed: float
    step_hidden: float
    micro_windows: float = 0.0  # hidden calls per micro-batch
    step_windows: float = 0.0  # hidden calls per step


def _data_parallel(calls, stage, layers: int, micro_batches: int, overlap: bool,
                   prefetch: float = 1.0, coordinator=None) -> _DataParallel:
    """Exposed and hidden DP seconds per micro-batch and per step, and the calls the hidden part runs in."""
    dp = [c for c in calls if c.kind == "dp"]
    if coordinator is not None:  # ZeRO-3 through DeepSpeed's 2021 coordinator: timed module by module
        others = [c for c in dp if not c.per_layer]
        step = sum(c.time_s * c.per_step for c in others)
        micro = sum(c.time_s * c.per_micro_batch for c in others)
        gathers = sum(c.per_micro_batch for c in dp if c.per_layer)
        return _DataParallel(coordinator.exposed_s + micro, coordinator.hidden_s, step + coordinator.post_step_s, 0.0,
                             gathers)
    step_reduce = sum(c.time_s * c.per_step for c in dp if c.op != "all_gather")
    step_gather = sum(c.time_s * c.per_step for c in dp if c.op == "all_gather")
    zero3 = [c for c in dp if c.per_layer]
    root_gather = sum(c.time_s * c.per_micro_batch for c in dp if c.root and c.op == "all_gather")
    root_reduce = sum(c.time_s * c.per_micro_batch for c in dp if c.root and c.op != "all_gather")
    dp = [c for c in dp if not c.root]
    micro = sum(c.time_s * c.per_micro_batch for c in dp if not c.per_layer)
    if not overlap:
        per_layer = sum(c.time_s * c.per_layer for c in zero3)
        return _DataParallel(micro + layers * per_layer + root_gather + root_reduce, 0.0, step_reduce + step_gather, 0.0)
    step_exposed = max(0.0, step_reduce - stage.backward_s) + max(0.0, step_gather - stage.forward_s)
    step_hidden = step_reduce + step_gather - step_exposed
    micro_exposed = max(0.0, micro - stage.total_s)  # queued reductions keep running into the next forward
    micro_hidden = micro - micro_exposed
    micro_exposed += root_gather
    step_exposed += root_reduce  # the last micro-batch's; the others' run under the next micro-batch
    micro_hidden += root_reduce * (micro_batches - 1) / micro_batches
    micro_windows = sum(c.per_micro_batch for c in dp if not c.per_layer) if micro_hidden > 0 else 0.0
    if micro_batches > 1:
        micro_windows += sum(c.per_micro_batch for c in calls if c.kind == "dp" and c.root and c.op != "all_gather")
    step_windows = sum(c.per_step for c in calls if c.kind == "dp") if step_hidden else 0.0
    if zero3:
        gather = sum(c.time_s for c in zero3 if c.op == "all_gather")  # one pass over the layer's tensors
        passes = max(c.per_layer for c in zero3 if c.op == "all_gather")  # forward, (recompute,) backward
        reduce = sum(c.time_s for c in zero3 if c.op != "all_gather")
        f, b = stage.forward_s / max(1, layers), stage.backward_s / max(1, layers)
        # what the prefetch window lets start during the previous layer's compute is hidden (up to that
        # compute); the rest of every gather waits
        hidden_f = min(prefetch * gather, f)
        back_gathers = (passes - 1) * gather
        hidden_b = min(prefetch * back_gathers, b)
        hidden_r = min(reduce, b - hidden_b)  # gradient reduce-scatters run under the remaining backward
        per_layer_exposed = gather - hidden_f + back_gathers - hidden_b + reduce - hidden_r
        micro_exposed += layers * per_layer_exposed
        micro_hidden += layers * (hidden_f + hidden_b + hidden_r)
        micro_windows += layers * (passes + 1)  # one gather per pass and one reduce-scatter per layer
    return _DataParallel(micro_exposed, micro_hidden, step_exposed, step_hidden, micro_windows, step_windows)


def flat_buffer_copy_s(layer_elements: float, layers: int, root_elements: float, gathers: int,
                       gradient_bytes: int, hbm_bytes_per_s: float) -> float:
    """Compute-stream seconds per micro-batch of ZeRO-3's flat-buffer copies (FSDP2): every gathered
    BF16 parameter is copied out of the all-gather buffer (read 2 + write 2 bytes) ``gathers`` times per
    layer, once for the root unit (kept between forward and backward), and every gradient is copied
    into the reduce-scatter buffer in the reduce dtype (read 2 + write ``gradient_bytes``)."""
    copy_out = 4.0 * (gathers * layers * layer_elements + root_elements)
    copy_in = (2.0 + gradient_bytes) * (layers * layer_elements + root_elements)
    return (copy_out + copy_in) / hbm_bytes_per_s


__all__ = ["Exposure", "expose", "flat_buffer_copy_s"]
