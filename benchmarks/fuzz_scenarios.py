"""Fuzz fabricsim with thousands of generated scenarios and print how each kind of input was handled.

    .venv/bin/python benchmarks/fuzz_scenarios.py --cases 10000 --workers 2

Cases come from tests/scenario_cases.py (the generators of the property tests): valid scenarios over the
whole catalog and 1 to 10^6 GPUs (a share of them large), corrupted ones (wrong types, NaN/inf, missing,
extra and nested garbage, hostile catalog files), each with a command (plan, run, collective, train,
infer, reliability) and its options; a share goes through the command line (CliRunner) instead of the
Python API.  Each case runs in a worker process under a time bound and a memory bound; the report counts

    answered / refused cleanly / crashed / hung / non-finite (an answer that breaks an invariant)

and writes every crash, hang and non-finite case with its input and traceback to --out (JSON).
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import resource
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def generate(count: int, seed: int, large_share: float, cli_share: float) -> list[dict]:
    """``count`` cases drawn by hypothesis (generation only: no shrinking, no database)."""
    import random

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    import scenario_cases as sc

    drawn: list[dict] = []
    rng = random.Random(seed)

    def batch(strategy, n, tag):
        if n <= 0:
            return

        @hypothesis_seed(rng.randrange(2**32))
        @settings(max_examples=n, phases=[Phase.generate], database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def draw(case):
            drawn.append(dict(case, via="cli" if rng.random() < cli_share else "api", json=rng.random() < 0.5, tag=tag))

        draw()

    large = int(round(count * large_share))
    # hypothesis stops a run early once it has tried what it considers enough; top up in rounds
    while len(drawn) < count - large:
        batch(sc.cases(), min(2000, count - large - len(drawn)), "sized")
    while len(drawn) < count:
        batch(sc.cases(large=True), count - len(drawn), "large")
    return drawn[:count]


def _cli(case: dict, files: dict[str, str]) -> tuple[str, str]:
    """Run a case through the command line in-process: exit 0 answered, 2 refused, anything else crashed."""
    import yaml
    from typer.testing import CliRunner

    import scenario_cases as sc
    from fabricsim.cli import app

    data = sc._resolve_files(case["scenario"], files)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        try:
            yaml.safe_dump(data, handle)
        except yaml.YAMLError:
            handle.write("cluster: {gpus: 8}\n")
        path = handle.name
    flags = {"count_only": "--count-only", "compare_optics": None, "algo": "--algo", "lb": "--lb",
             "load_balancing": "--lb", "op": "--op", "sizes": "--sizes", "ranks": "--ranks",
             "placement": "--placement", "channels": "--channels", "seed": "--seed", "fail_links": "--fail-links",
             "fail_tier": "--fail-tier", "method": "--method", "model": "--model", "tp": "--tp", "pp": "--pp",
             "dp": "--dp", "micro_batch": "--micro-batch", "zero": "--zero", "dp_shard": "--dp-shard", "recompute": "--recompute",
             "communication": "--communication", "prefill_gpus": "--prefill-gpus", "decode_gpus": "--decode-gpus",
             "ep": "--ep", "batch": "--batch", "context": "--context", "protocol": "--proto",
             "cross_rail": "--cross-rail"}
    args = [case["command"], path]
    for key, value in case["options"].items():
        flag = flags.get(key)
        if flag is None:
            continue
        if isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    if case.get("json"):
        args.append("--json")
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.unlink(path)
    text = result.output
    if "Traceback" in text:
        return "crashed", text[-1500:]
    if result.exit_code == 0:
        return "answered", ""
    if result.exit_code == 2:
        return "refused", text[-600:]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        exc = result.exception
        return "crashed", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return "crashed", f"exit code {result.exit_code}: {text[-600:]}"


def worker(conn, files: dict[str, str], timeout: float, memory_bytes: int) -> None:
    """Run cases sent over ``conn`` until None arrives; answer (outcome, detail, seconds)."""
    warnings.filterwarnings("ignore")
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    import scenario_cases as sc

    class Hung(BaseException):
        pass

    def expire(signum, frame):
        raise Hung()

    signal.signal(signal.SIGALRM, expire)
    while True:
        case = conn.recv()
        if case is None:
            return
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            outcome, detail = (_cli if case.get("via") == "cli" else sc.execute)(case, files)
        except Hung:
            outcome, detail = "hung", f"over {timeout:g} s"
        except MemoryError:
            outcome, detail = "crashed", "MemoryError"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if outcome == "refused" and not sc.names_a_field(detail):
            outcome = "refused (no field named)"
        conn.send((outcome, detail[-3000:], time.perf_counter() - start))


class Pool:
    """Worker processes, each with one case at a time; a worker silent past the bound is killed (hung)."""

    def __init__(self, n: int, files, timeout: float, memory_bytes: int):
        self.args = (files, timeout, memory_bytes)
        self.grace = timeout + 60.0
        self.slots = [self._spawn() for _ in range(n)]

    def _spawn(self):
        parent, child = mp.Pipe()
        proc = mp.get_context("fork").Process(target=worker, args=(child, *self.args), daemon=True)
        proc.start()
        return {"proc": proc, "conn": parent, "case": None, "since": 0.0}

    def run(self, cases, on_result) -> None:
        pending = list(reversed(cases))
        while pending or any(s["case"] is not None for s in self.slots):
            for i, slot in enumerate(self.slots):
                if slot["case"] is None and pending:
                    slot["case"], slot["since"] = pending.pop(), time.monotonic()
                    slot["conn"].send(slot["case"])
            for i, slot in enumerate(self.slots):
                if slot["case"] is None:
                    continue
                if slot["conn"].poll(0.05):
                    try:
                        on_result(slot["case"], *slot["conn"].recv())
                    except EOFError:  # the worker died (killed by the kernel, a segfault...)
                        on_result(slot["case"], "crashed", f"worker died, exit code {slot['proc'].exitcode}",
                                  time.monotonic() - slot["since"])
                        self.slots[i] = self._spawn()
                        continue
                    slot["case"] = None
                elif not slot["proc"].is_alive() or time.monotonic() - slot["since"] > self.grace:
                    seconds = time.monotonic() - slot["since"]
                    alive = slot["proc"].is_alive()
                    slot["proc"].kill()
                    on_result(slot["case"], "hung" if alive else "crashed",
                              "killed past the bound" if alive else f"worker died ({slot['proc'].exitcode})", seconds)
                    self.slots[i] = self._spawn()

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot["conn"].send(None)
            except (BrokenPipeError, OSError):
                pass
            slot["proc"].join(timeout=5)
            if slot["proc"].is_alive():
                slot["proc"].kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds after which a case counts as hung")
    parser.add_argument("--memory-gb", type=float, default=6.0, help="address-space bound per worker (0: none)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--large-share", type=float, default=0.02, help="share of cases up to 10^6 GPUs for every command")
    parser.add_argument("--cli-share", type=float, default=0.1, help="share of cases run through the command line")
    parser.add_argument("--out", default="fuzz-report.json")
    args = parser.parse_args()

    import scenario_cases as sc

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    cases = generate(args.cases, args.seed, args.large_share, args.cli_share)
    generated = time.perf_counter() - start
    print(f"generated {len(cases):,} cases in {generated:,.0f} s", flush=True)
    files = sc.hostile_files(tempfile.mkdtemp(prefix="fabricsim-fuzz-"))

    counts: collections.Counter = collections.Counter()
    by_command: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    slowest: list[tuple[float, str]] = []
    problems = []
    seconds_total = [0.0]

    def on_result(case, outcome, detail, seconds):
        counts[outcome] += 1
        by_command[f"{case['command']} ({case['via']})"][outcome] += 1
        seconds_total[0] += seconds
        slowest.append((seconds, f"{case['command']} {json.dumps(case['scenario'], default=str)[:160]}"))
        if outcome not in ("answered", "refused"):
            problems.append({"outcome": outcome, "seconds": seconds, "case": case, "detail": detail})
        done = sum(counts.values())
        if done % 500 == 0:
            print(f"  {done:,} cases, {time.perf_counter() - start:,.0f} s: {dict(counts)}", flush=True)

    pool = Pool(args.workers, files, args.timeout, int(args.memory_gb * 2**30))
    try:
        pool.run(cases, on_result)
    finally:
        pool.close()
    wall = time.perf_counter() - start

    print(f"\n{len(cases):,} cases in {wall:,.0f} s wall ({generated:,.0f} s generating, "
          f"{seconds_total[0]:,.0f} s in cases over {args.workers} workers; hang bound {args.timeout:g} s)")
    for outcome in ("answered", "refused", "refused (no field named)", "crashed", "hung", "non-finite"):
        print(f"  {outcome:<26} {counts.get(outcome, 0):>7,}")
    print("\nby command (via):")
    for command in sorted(by_command):
        print(f"  {command:<24} " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_command[command].items())))
    print("\nslowest cases:")
    for seconds, what in sorted(slowest, reverse=True)[:5]:
        print(f"  {seconds:6.1f} s  {what}")
    Path(args.out).write_text(json.dumps({"counts": counts, "wall_s": wall, "cases": len(cases),
                                          "problems": problems}, indent=1, default=str))
    print(f"\nproblem cases written to {args.out}")
    bad = sum(counts.get(k, 0) for k in ("crashed", "hung", "non-finite"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
