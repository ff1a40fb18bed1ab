"""Time the published-measurement evidence each command adds (fabricsim.validation.evidence).

    .venv/bin/python benchmarks/bench_evidence.py

For the built-in scenario and a few others, prints how long ranking and re-running the nearest cases takes for
each kind of result, and which cases were chosen: the cost of the table `--no-evidence` skips.
"""

from __future__ import annotations

import time

from fabricsim.scenario import scenario_from_dict
from fabricsim.validation import evidence as ev
from fabricsim.workload import train


def timed(label: str, call) -> None:
    start = time.perf_counter()
    found = call()
    seconds = time.perf_counter() - start
    ids = ", ".join(e.case_id for e in found or [])
    print(f"{label:44s} {seconds:6.2f} s  {len(found or []):2d} cases  {ids[:110]}")


def main() -> None:
    default = scenario_from_dict({})
    small = scenario_from_dict({"cluster": {"gpu": "gb200", "gpus": 64}})
    gpt_oss = dict(model="gpt-oss-120b", tp=1, pp=1, dp=64, ep=64, global_batch=1280, seq=4096, micro_batch=4)
    step = train(small, **gpt_oss)
    print("evidence                                      time   chosen")
    timed("plan, default (16k H100, Quantum-2)", lambda: ev.plan_evidence(default))
    timed("plan, 1,024 B200 on Quantum-2", lambda: ev.plan_evidence(
        scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 1024}, "fabric": {"switch": "quantum-2"}})))
    timed("collective all-reduce, 16 H100, 1 GiB", lambda: ev.collective_evidence(
        scenario_from_dict({"cluster": {"gpus": 16}}), "all_reduce", 16, 2**30))
    timed("train, gpt-oss-120b on 64 GB200", lambda: ev.training_evidence(small, gpt_oss, step))
    timed("train, default (Llama 3 405B, 16k H100)", lambda: ev.training_evidence(default, {}, train(default)))
    timed("infer, default (DeepSeek-V3)", lambda: ev.inference_evidence(default, {}))
    timed("reliability, default", lambda: ev.reliability_evidence(default))


if __name__ == "__main__":
    main()
