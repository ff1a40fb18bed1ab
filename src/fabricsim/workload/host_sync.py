"""Forward time of a layer whose host waits once for the device (seconds).

A dropless MoE layer of Megatron-Core cannot be issued ahead: before dispatching it needs the number
of tokens each expert receives on the host (the all-to-all dispatcher copies ``tokens_per_expert`` to
the host and synchronizes; DeepEP and HybridEP wait for the received counts inside their dispatch
call: DeepEP hybrid-ep ``executor.cu`` ``cudaStreamSynchronize`` after ``permute_preprocessing``).
The layer's forward is then two segments:

* **pre**: everything up to the synchronization (the attention block, the pre-MLP norm, router,
  shared experts and the dispatcher's preprocessing), GPU time ``pre_gpu_s``, host issue time
  ``pre_host_s``;
* **post**: dispatch, permutation, the experts, combine (``post_gpu_s``, ``post_host_s``).

When the synchronization returns the GPU queue is empty.  The host issues the post segment while
the GPU runs it, so the GPU finishes it at ``max(post_host_s, post_gpu_s)``; the host then issues the
next layer's pre segment and waits, and the GPU runs that segment after the post one.  From one
synchronization to the next:

    max(max(post_host_s, post_gpu_s) + pre_gpu_s,  post_host_s + pre_host_s)

Without the synchronization the host would run ahead and the layer would take ``max(GPU, host)``;
the difference is the pre segment's GPU time that the host can no longer hide behind its own issue
of the post segment.  Never less than ``max(GPU, host)``.
"""

from __future__ import annotations


def synced_forward_s(pre_gpu_s: float, post_gpu_s: float, pre_host_s: float, post_host_s: float) -> float:
    """Seconds from one host synchronization to the next for one layer (see the module docstring)."""
    return max(max(post_host_s, post_gpu_s) + pre_gpu_s, post_host_s + pre_host_s)


__all__ = ["synced_forward_s"]
