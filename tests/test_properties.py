"""Property tests over generated scenarios (issue 17): every input gets an answer whose invariants hold
(fabricsim.invariants) or a FabricsimError that names what to change; never another exception, never
longer than a time bound.  The generators live in scenario_cases.py and also drive the longer fuzz
script (benchmarks/fuzz_scenarios.py); this file keeps to a few hundred quick examples."""

import signal
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings

import scenario_cases as sc
from fabricsim.errors import FabricsimError
from fabricsim.invariants import check_plan
from fabricsim.plan import plan_scenario
from fabricsim.scenario import scenario_from_dict

def quick(examples: int):
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)


class TooSlow(Exception):
    pass


@contextmanager
def time_bound(seconds: float):
    """Fail a case that runs longer than ``seconds`` (SIGALRM; the tests run in the main thread)."""

    def expire(signum, frame):
        raise TooSlow(f"case exceeded {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return sc.hostile_files(tmp_path_factory.mktemp("hostile"))


@quick(300)
@given(data=sc.corrupted_scenarios())
def test_corrupted_scenarios_are_refused_naming_a_field_or_accepted(data, tmp_path_factory):
    files = sc.hostile_files(tmp_path_factory.getbasetemp() / "hostile-corrupted")
    with time_bound(5):
        try:
            scenario_from_dict(sc._resolve_files(data, files))
        except FabricsimError as exc:
            message = str(exc)
            assert sc.names_a_field(message), message
            assert len(message) < 3000, message[:200]


@quick(150)
@given(data=sc.valid_scenarios())
def test_valid_scenarios_of_any_size_plan_within_the_invariants(data):
    with time_bound(20):
        try:
            scenario = scenario_from_dict(data)
            plan = plan_scenario(scenario, materialise=False)
        except FabricsimError as exc:
            assert sc.names_a_field(str(exc)), str(exc)
            return
        assert check_plan(plan) == []


@quick(60)
@given(case=sc.cases(max_gpus=1024))
def test_every_command_answers_within_its_invariants_or_refuses_cleanly(case, files):
    with time_bound(30):
        outcome, detail = sc.execute(case, files)
    assert outcome in ("answered", "refused"), f"{outcome}: {case}\n{detail}"
    if outcome == "refused":
        assert sc.names_a_field(detail), detail


@pytest.mark.parametrize("command", sc.COMMANDS)
@pytest.mark.parametrize("gpus", [1, 8, 16, 64])
def test_every_command_works_on_small_clusters(command, gpus, files):
    """Issue 17 item 1: one GPU, one server, one leaf.  The default workloads need 128 GPUs (Llama 3 405B)
    and 96 (DeepSeek-V3 serving): run skips them with a note; train and infer get ones that fit."""
    workload = {"train": {"model": "llama3-8b", "tp": min(gpus, 8), "pp": 1, "global_batch": 64, "seq": 2048},
                "infer": {"model": "llama3-8b", "prefill_gpus": max(1, gpus // 2), "decode_gpus": max(1, gpus // 2),
                          "batch": 8, "context": 1024, "output_tokens": 64}}
    scenario = {"cluster": {"gpus": gpus}, "reliability": {"runs": 20}}
    if command in ("train", "infer"):
        scenario["workload"] = workload
    case = {"command": command, "scenario": scenario, "options": {"sizes": "1MiB"} if command == "collective" else {}}
    with time_bound(30):
        outcome, detail = sc.execute(case, files)
    if command == "train" and gpus < 8:
        # llama3-8b needs ~150 GB per GPU below tp=2: a clean refusal naming the degrees that would fit
        assert outcome == "refused" and "would fit: pp=2" in detail, detail
    elif command == "infer" and gpus == 1:
        # disaggregated serving puts prefill and decode on different GPUs: two at least
        assert outcome == "refused" and "prefill_gpus + decode_gpus = 2" in detail, detail
    else:
        assert outcome == "answered", detail


def test_one_gpu_collective_reports_zero_bus_bandwidth_not_infinity(files):
    from fabricsim.api import collective_sweep

    report, _ = collective_sweep(scenario_from_dict({"cluster": {"gpus": 1}}), sizes=[2**20])
    result = report.results[0]
    assert result.time_s == 0 and result.busbw_bytes_per_s == 0 and result.delivered == 1


def test_a_64_gpu_server_gives_finite_bus_bandwidth():
    from fabricsim.api import collective_sweep

    for algorithm in ("ring", "tree", "auto"):
        report, _ = collective_sweep(scenario_from_dict({"cluster": {"gpus": 64, "gpus_per_server": 64}}),
                                        algorithm=algorithm, sizes=[2**30])
        result = report.results[0]
        assert 0 < result.busbw_bytes_per_s < 1e13 and 0 < result.delivered <= 1
