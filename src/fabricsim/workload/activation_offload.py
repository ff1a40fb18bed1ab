"""Activation offloading to host memory (Megatron-Core ``cpu_offloading``): what leaves HBM and what it costs.

Mechanism (Megatron-Core b0cc2706 + Transformer Engine v2.12, ``transformer_engine/pytorch/cpu_offload.py``,
the default synchronizer Megatron-Core's ``TransformerBlock`` gets from ``get_cpu_offload_context``):

* the first ``k`` = ``cpu_offloading_num_layers`` transformer layers of the model are offloaded; every tensor a
  layer saves for its backward (at least 256 Ki elements, not a parameter; FP8 tensors by their components)
  is copied to pinned host memory on one side stream, each copy waiting only for its tensor to be produced;
* the copies of layer ``i`` must be done before layer ``L - k + i`` starts its forward (the main stream waits
  for them there, then frees the layer's HBM), so at most ``L - k`` layers' activations are resident;
* in the backward, layer ``i`` is reloaded when layer ``L - 1 - k + i`` starts its backward (the side stream
  first waits for the main stream), on the same stream, one layer after another; layer ``i``'s backward waits
  for its tensors.  ``k = L - 1`` leaves no window (TE warns: no overlap);
* Megatron-Core refuses it with pipeline parallelism, with any recomputation and with CUDA graphs, and needs
  ``0 <= k < num_layers`` (transformer_config.py).

The copies run on the GPU's copy engines over its host link (catalog ``host_copy_bytes_per_s``); the time
they add is what the schedule above cannot hide under the layers' compute.  Seconds, bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from fabricsim.errors import FabricsimError

FIELD = "workload.train.activation_offload_layers"


def check_offload(layers: int | None, par, decoder_layers: int, gpu, cuda_graphs: bool, graph_scope) -> None:
    """Raise FabricsimError where Megatron-Core / Transformer Engine would refuse the setting, or the catalog
    cannot time it (``decoder_layers``: transformer layers of the model)."""
    if not layers:
        return
    if par.pp > 1:
        raise FabricsimError(f"{FIELD}={layers} needs pp=1: Megatron-Core has no CPU offloading with pipeline "
                             f"parallelism (transformer_config.py), and workload.train.pp={par.pp}")
    if layers >= decoder_layers:
        raise FabricsimError(f"{FIELD}={layers}: Megatron-Core offloads fewer layers than the model has; valid "
                             f"1 to {decoder_layers - 1} for {decoder_layers} layers")
    if cuda_graphs or graph_scope:
        raise FabricsimError(f"{FIELD}={layers}: Megatron-Core refuses CUDA graphs with CPU offloading; set "
                             "workload.train.cuda_graphs false and cuda_graph_scope [] (or drop the offloading)")
    if gpu.host_copy_rates is None or gpu.host_memory_bytes is None:
        raise FabricsimError(f"{FIELD}={layers}: GPU {gpu.name} has no host link or host memory figure in the "
                             "catalog (gpus.yaml host_link_bytes_per_s / host_copy_bytes_per_s, host_memory_bytes)")


def resident_peak(layer_bytes: list[float], offloaded: int) -> float:
    """Largest sum of activation bytes in HBM while one micro-batch runs, when its first ``offloaded`` layers
    go to the host on Transformer Engine's schedule: before layer ``j`` runs (forward or backward), layers
    ``i < k`` with ``i <= j - L + k`` are on the host; every layer up to ``j`` otherwise holds its bytes."""
    n, k = len(layer_bytes), offloaded
    if not k:
        return float(sum(layer_bytes))
    prefix = [0.0, *accumulate(layer_bytes)]
    return max(prefix[j + 1] - prefix[max(0, min(k, j - n + k + 1))] for j in range(n))


@dataclass(frozen=True)
class OffloadTiming:
    """One micro-batch: seconds the main stream waits for copies in the forward and the backward."""

    forward_wait_s: float
    backward_wait_s: float
    copied_bytes: float  # each way, per micro-batch

    @property
    def exposed_s(self) -> float:
        return self.forward_wait_s + self.backward_wait_s


def offload_timing(forward_s: list[float], backward_s: list[float], layer_bytes: list[float], offloaded: int,
                   to_device_bytes_per_s: float, to_host_bytes_per_s: float) -> OffloadTiming:
    """Replay Transformer Engine's schedule on two streams (compute, copies) for layers with the given forward
    and backward seconds and saved bytes; the first ``offloaded`` layers go to the host and back.  A layer's
    copy starts when its forward ends (ASSUMPTION: copies of tensors produced early in the layer could start
    sooner; they are timed as one block) and after the previous layer's copy."""
    n, k = len(forward_s), offloaded
    copy_end = [0.0] * k
    t = stream = wait_f = 0.0
    for j in range(n):
        i = j - (n - k)  # layer whose copy must be done before layer j starts
        if 0 <= i < k and copy_end[i] > t:
            wait_f += copy_end[i] - t
            t = copy_end[i]
        t += forward_s[j]
        if j < k:
            stream = max(t, stream) + layer_bytes[j] / to_host_bytes_per_s
            copy_end[j] = stream
    reload_end = [0.0] * k
    t = stream = wait_b = 0.0
    for j in range(n - 1, -1, -1):
        i = j - (n - 1 - k)  # layer whose reload starts when layer j's backward does
        if 0 <= i < k:
            stream = max(t, stream) + layer_bytes[i] / to_device_bytes_per_s
            reload_end[i] = stream
        if j < k and reload_end[j] > t:
            wait_b += reload_end[j] - t
            t = reload_end[j]
        t += backward_s[j]
    return OffloadTiming(wait_f, wait_b, float(sum(layer_bytes[:k])))


def offload_exposure(model, gpu, shape, profile, job, attention_override: float | None = None) -> OffloadTiming:
    """The copies' waits per micro-batch for a training job with ``job.offload_layers`` (a MemoryJob with pp 1):
    each layer's forward and backward seconds from the compute model, its saved bytes from the memory model,
    the GPU's measured copy rates (catalog ``host_copy_bytes_per_s``)."""
    from fabricsim.workload.compute import layer_work
    from fabricsim.workload.memory import layer_activation_bytes

    saved = layer_activation_bytes(job, 0)
    n_moe = job.layout.moe_layers[0]
    kinds = [False] * (job.layout.layers[0] - n_moe) + [True] * n_moe
    work = {moe: layer_work(model, gpu, shape, profile, moe, attention_override) for moe in set(kinds)}
    decoder = job.layout.decoder_layers[0]
    to_device, to_host = gpu.host_copy_rates
    return offload_timing([work[m].forward for m in kinds[:decoder]], [work[m].backward for m in kinds[:decoder]],
                          saved[:decoder], job.offload_layers, to_device, to_host)
