"""Load on the web API, loopback only: 20 concurrent clients on /api/plan, alone and while long runs run.

    python benchmarks/bench_web_load.py [--clients 20] [--requests 25] [--run-gpus 65536]

Starts `fabricsim serve` on a free 127.0.0.1 port (default workers), then
  1. 20 clients x 25 plan requests, each a different scenario (cache misses), the explorer's body
     (count_only, optics families compared); then the same requests again (cache hits);
  2. the same plan load while two /api/run requests of --run-gpus GPUs (seconds each, long lane) run;
     reports whether every plan was answered before the runs finished.
Prints p50/p95/p99/max latency and throughput per phase.  Bounded: 20 x 25 x 3 plan requests, 2 runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"  # loopback only


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def post(connection: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, float, dict]:
    payload = json.dumps(body)
    start = time.perf_counter()
    connection.request("POST", path, payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = json.loads(response.read())
    return response.status, time.perf_counter() - start, data


def plan_bodies(clients: int, per_client: int) -> list[list[dict]]:
    """Distinct explorer-like plan bodies: the slider's GPU counts up to 65,536 x optics x cable lengths."""
    steps = [m * 2 ** (k - 2) for k in range(10, 16) for m in (4, 5, 6, 7)] + [65536]
    combos = [(g, o, m) for m in (20, 25, 30, 35) for o in ("dsp", "lpo", "lro", "cpo", "xpo") for g in steps]
    bodies = [{"scenario": {"cluster": {"gpus": g}, "fabric": {"optics": o}, "layout": {"host_to_leaf_m": m}},
               "count_only": True} for g, o, m in combos]
    assert len(bodies) >= clients * per_client, "not enough distinct scenarios"
    return [bodies[c * per_client:(c + 1) * per_client] for c in range(clients)]


def load(port: int, work: list[list[dict]]) -> tuple[np.ndarray, float, int]:
    latencies, errors, lock = [], [0], threading.Lock()

    def client(bodies):
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        for body in bodies:
            status, seconds, _ = post(connection, "/api/plan", body)
            with lock:
                latencies.append(seconds)
                errors[0] += status != 200
        connection.close()

    threads = [threading.Thread(target=client, args=(bodies,)) for bodies in work]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return np.array(latencies), time.perf_counter() - start, errors[0]


def report(name: str, latencies: np.ndarray, wall: float, errors: int) -> None:
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    print(f"{name:<38} {len(latencies):>5} req  {len(latencies) / wall:>7.1f} req/s  p50 {p50 * 1e3:7.1f} ms  "
          f"p95 {p95 * 1e3:7.1f} ms  p99 {p99 * 1e3:7.1f} ms  max {latencies.max() * 1e3:7.1f} ms  errors {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25, help="plan requests per client per phase")
    parser.add_argument("--run-gpus", type=int, default=65536, help="GPUs of the long run requests")
    args = parser.parse_args()

    port = free_port()
    command = Path(sys.executable).parent / "fabricsim"
    server = subprocess.Popen([str(command), "serve", "--host", HOST, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        warm = http.client.HTTPConnection(HOST, port, timeout=60)
        post(warm, "/api/plan", {"count_only": True})  # workers imported
        print(f"fabricsim serve on {HOST}:{port}, {os.cpu_count()} cores, {args.clients} clients")

        work = plan_bodies(args.clients, args.requests)
        report("plans, each a new scenario", *load(port, work))
        report("plans again (cache hits)", *load(port, work))

        done = {}

        def long_run(i):
            connection = http.client.HTTPConnection(HOST, port, timeout=600)
            status, seconds, doc = post(connection, "/api/run", {"scenario": {
                "cluster": {"gpus": args.run_gpus}, "reliability": {"seed": i}}})
            done[i] = (time.perf_counter(), seconds, status, doc.get("training", {}) or {})

        runs = [threading.Thread(target=long_run, args=(i,)) for i in range(2)]
        for t in runs:
            t.start()
        time.sleep(0.5)
        shifted = [[{**b, "scenario": {**b["scenario"], "layout": {**b["scenario"]["layout"], "leaf_to_spine_m": 51}}}
                    for b in bodies] for bodies in work]
        latencies, wall, errors = load(port, shifted)
        plans_done = time.perf_counter()
        report(f"plans while 2 runs of {args.run_gpus:,} GPUs run", latencies, wall, errors)
        for t in runs:
            t.join()
        for i, (finished, seconds, status, training) in sorted(done.items()):
            print(f"run {i}: HTTP {status}, {seconds:.1f} s, communication {training.get('communication')}; "
                  f"plans all answered {finished - plans_done:+.1f} s before it finished")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
