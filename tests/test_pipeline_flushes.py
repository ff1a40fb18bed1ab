"""Several pipeline schedules per optimizer step (pipeline_flushes) and FSDP under torch.distributed.pipelining
(software profile fsdp_pipeline_unsharded), as NeMo AutoModel runs its pipelined MoE jobs."""

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train

SCENARIO = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 64}})
JOB = dict(model="llama3-8b", tp=1, pp=4, virtual_stages=2, dp=16, global_batch=256, micro_batch=1, seq=4096,
           recompute="full", communication="analytic")


def test_each_schedule_pays_its_fill_and_drain():
    """16 micro-batches per replica as 1, 2 or 4 schedules: the bubble is f (pp - 1) / v micro-batch times, the
    micro-batches' own time unchanged."""
    runs = {f: train(SCENARIO, pipeline_flushes=f, **JOB) for f in (1, 2, 4)}
    one = runs[1]
    micro = one.breakdown_s["pipeline bubble"] / ((4 - 1) / 2)
    for flushes, result in runs.items():
        assert result.breakdown_s["pipeline bubble"] == pytest.approx(flushes * (4 - 1) / 2 * micro, rel=1e-9)
        assert result.breakdown_s["compute"] == pytest.approx(one.breakdown_s["compute"], rel=1e-12)
        assert result.step_time_s - one.step_time_s == pytest.approx((flushes - 1) * (4 - 1) / 2 * micro, rel=1e-9)


def test_bad_flush_counts_are_refused():
    with pytest.raises(FabricsimError, match=r"pipeline_flushes=3 does not divide the 16 micro-batches"):
        train(SCENARIO, pipeline_flushes=3, **JOB)
    with pytest.raises(FabricsimError, match=r"micro-batches per schedule \(2\) to be a multiple of the micro-batch "
                                             r"group \(4"):
        train(SCENARIO, pipeline_flushes=8, **JOB)
    with pytest.raises(FabricsimError, match="DualPipe runs a step's micro-batches in one schedule"):
        train(SCENARIO, pipeline_flushes=2, pipeline_schedule="dualpipe",
              **{**JOB, "virtual_stages": None})


def test_pipelined_fsdp_gathers_once_per_schedule():
    """zero=3 with pipeline stages on a profile whose FSDP keeps weights gathered through the schedule: ZeRO-1's
    once-per-schedule gather and reduce-scatter instead of per-layer gathers every micro-batch; without
    pipeline stages, or on a profile without the behaviour, ZeRO-3 stays."""
    job = dict(JOB, zero=3, software="automodel-2025")
    pipelined = train(SCENARIO, pipeline_flushes=2, **job)
    assert pipelined.parallelism.zero == 1
    assert any("timed as zero=1" in note for note in pipelined.notes)
    dp = [c for c in pipelined.calls if c.kind == "dp"]
    assert dp and all(c.per_micro_batch == 0 and c.per_step == 2 for c in dp)
    flat = train(SCENARIO, **dict(job, pp=1, virtual_stages=None, dp=64))
    assert flat.parallelism.zero == 3
    assert any(c.kind == "dp" and c.per_layer for c in flat.calls)
    # torchtitan turns resharding off under pipelining too (apply_fsdp: reshard_after_forward=False when pp_enabled)
    titan = train(SCENARIO, **dict(job, software="torchtitan-2024", optimizer_states="bf16"))
    assert titan.parallelism.zero == 1
    megatron = train(SCENARIO, **dict(job, software="megatron-core-2025", optimizer_states="bf16"))
    assert megatron.parallelism.zero == 3
