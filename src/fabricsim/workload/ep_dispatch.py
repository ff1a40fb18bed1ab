"""How fast DeepEP's intranode kernels move tokens: a rate set by the SMs they run on (bytes, seconds).

DeepEP's normal dispatch and combine kernels (the flex dispatcher's DeepEP backend in Megatron-Core)
run on a fixed number of SMs, each moving whole token rows over NVLink.  Below the link's rate their
throughput grows with the SMs given to them, nearly linearly: on B200 348, 494 and 619 GB/s of dispatch at
16, 24 and 32 SMs, levelling off near 640 GB/s (HybridEP's README in deepseek-ai/DeepEP, hybrid-ep
branch, docs/README_Hybrid-EP.md, DeepEP Torch API BF16 table; GB200 362, 513, 616 GB/s); on H100 with
Megatron's default 20 SMs 329 GB/s dispatch and 287 GB/s combine (tile-ai/tilescale PR 40, 8 x H100,
hidden 7168, 4,096 tokens), where NVLink would carry ~410.  So a dispatch moves its rows in at least

    rows x hidden x 2 bytes / (SMs x bytes per SM per second)

seconds, the per-SM rate read per GPU at its fewest-SM measurement (catalog ``deepep_sm_bytes_per_s``,
dispatch and combine; all measured at hidden 7168).  The all-to-all model of the fabric gives the
link's time; a call takes the longer of the two.  DeepEP's internode kernels are bound by the NICs and are
not capped.  HybridEP's kernels are not SM-bound (16 SMs give 750 of the 764 GB/s of BF16 dispatch 32 SMs give
on GB200, same README, kernel time alone), but Megatron-Core calls them through HybridEP's Torch API, whose
measured rate -- the one the DeepEP figures above are -- is a quarter lower: 550 and 538 GB/s of dispatch and
combine on 8 GB200 with 16 SMs, 470 and 418 at 36 ranks across an NVL72 rack (catalog ``hybridep_bytes_per_s``,
by SMs and ranks); a HybridEP call inside one NVLink domain takes at least its bytes at that rate.
Across the trays of a GB200 NVL72 DeepEP's NVLink kernels (its
multi-node-NVLink build, community PR 218) are slower still: about 400 GB/s dispatch and 190 GB/s combine
on 24 SMs at EP32 (NVIDIA's DeepSeek-V3 GB200 optimization notes, Megatron-LM docs/discussions, 2025-11),
catalog ``deepep_mnnvl_sm_bytes_per_s``; such a group forwards one copy per target GPU over NVLink, as
inside one server (:func:`fabricsim.workload.moe.forwarding_domain`).
"""

from __future__ import annotations

from dataclasses import replace

DEEPEP_SMS = 20
"""SMs DeepEP's normal kernels run on: Megatron-Core ``moe_deepep_num_sms`` default (transformer_config.py,
core_r0.14-0.16); DeepSeek-V3 technical report section 3.2.2 dedicates 20 SMs to its all-to-all."""
HYBRIDEP_SMS = 16
"""SMs HybridEP's dispatch and combine kernels run on: Megatron-Core ``moe_hybridep_num_sms`` default
(transformer_config.py at b0cc2706, the 26.02 stack); Megatron-Bridge's performance recipes raise it to 32
(scripts/performance/utils/overrides.py at v0.3.0 and v0.5.0)."""


PROB_BYTES = 4
"""HybridEP carries each routing probability in FP32 (deepseek-ai/DeepEP hybrid-ep branch,
csrc/hybrid_ep/backend/hybrid_ep_backend.cuh: ``float`` prob buffers of NUM_OF_EXPERTS_PER_RANK x
NUM_OF_RANKS_PER_NODE per token)."""


def prob_bytes_per_row(dispatcher: str, routed_experts: int, ep: int, domain_gpus: int) -> float:
    """Bytes HybridEP sends with every dispatched token row besides its hidden state: the row's routing
    probabilities for every expert of the NVLink domain it reaches (experts per rank x ranks per domain, FP32) --
    written by the forward dispatch and read back by the combine's backward (hybrid_ep_backend.cuh
    ``attn_input_prob`` / ``expert_output_prob``, 'only valid in forward dispatch'), so two of a layer's four
    all-to-alls carry them.  0 for every other dispatcher (the all-to-all dispatcher and DeepEP keep the
    probabilities on the sending rank: Megatron-Core token_dispatcher.py)."""
    if dispatcher != "hybridep" or ep <= 1:
        return 0.0
    return PROB_BYTES * routed_experts / ep * min(ep, domain_gpus)


def dispatcher_sms(dispatcher: str, override: int | None = None) -> int | None:
    """SMs the expert dispatcher's own kernels occupy while they run (``override``: the job's setting); None for
    NCCL's all-to-all, whose channels the software profile's ``comm_sms`` stands for."""
    if override is not None:
        return override
    return {"deepep": DEEPEP_SMS, "hybridep": HYBRIDEP_SMS}.get(dispatcher)


def sm_rate_bytes_per_s(gpu, sms: int = DEEPEP_SMS, mnnvl: bool = False) -> float | None:
    """Bytes per second DeepEP's NVLink kernels move on ``sms`` SMs of ``gpu``, averaged over equal bytes of
    dispatch and combine (the harmonic mean of the two rates); ``mnnvl``: across the compute trays of a
    multi-node NVLink domain (catalog ``deepep_mnnvl_sm_bytes_per_s``); None when not measured."""
    rates = gpu.deepep_mnnvl_sm_bytes_per_s if mnnvl else gpu.deepep_sm_bytes_per_s
    if not rates:
        return None
    dispatch, combine = rates
    return sms * 2.0 / (1.0 / dispatch + 1.0 / combine)


def hybridep_rate_bytes_per_s(gpu, sms: int, ranks: int) -> float | None:
    """Bytes per second HybridEP's Torch API moves over NVLink for an expert group of ``ranks`` GPUs given ``sms``
    SMs, averaged over equal bytes of dispatch and combine: the catalog's measurement at the most SMs not above
    ``sms`` and the most ranks not above ``ranks`` (the fewest measured where none is); None when not measured."""
    table = gpu.hybridep_bytes_per_s
    if not table:
        return None
    by_ranks = table[max((k for k in table if k <= sms), default=min(table))]
    dispatch, combine = by_ranks[max((k for k in by_ranks if k <= ranks), default=min(by_ranks))]
    return 2.0 / (1.0 / dispatch + 1.0 / combine)


def cap_ep_calls(calls, gpu, dispatcher: str, intranode: bool, sms: int | None = DEEPEP_SMS,
                 mnnvl: bool = False) -> float | None:
    """Give every MoE all-to-all call of a DeepEP or HybridEP job whose expert groups stay inside one server
    (``intranode``) or inside one multi-node NVLink domain (``mnnvl``, at that path's measured rate) at least the
    time of its bytes at the dispatcher's measured rate (``size_bytes`` per rank: every row it receives, its own
    included): DeepEP's SM-bound one, HybridEP's Torch API one.  Returns the rate (bytes/s) when it slowed a call,
    else None."""
    ep_calls = [call for call in calls if call.kind == "ep" and call.timing is not None]
    if not ep_calls or not (intranode or mnnvl) or dispatcher not in ("deepep", "hybridep"):
        return None
    if dispatcher == "deepep":
        rate = sm_rate_bytes_per_s(gpu, sms, mnnvl=not intranode)
    else:  # every EP call runs on the same expert groups
        rate = hybridep_rate_bytes_per_s(gpu, sms or HYBRIDEP_SMS, ep_calls[0].groups.shape[-1])
    if rate is None:
        return None
    capped = None
    for call in ep_calls:
        floor = call.size_bytes / rate
        if floor > call.timing.time_s:
            call.timing, capped = replace(call.timing, time_s=floor), rate
    return capped


__all__ = ["PROB_BYTES", "prob_bytes_per_row",
           "DEEPEP_SMS", "HYBRIDEP_SMS", "dispatcher_sms", "sm_rate_bytes_per_s", "hybridep_rate_bytes_per_s",
           "cap_ep_calls"]
