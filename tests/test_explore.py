"""Sweeps: the sweep file, its points, the resumable Parquet store (survives kill -9), local vs Ray
engines giving identical rows, Pareto fronts."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.errors import FabricsimError
from fabricsim.explore import run_sweep
from fabricsim.explore.points import expand
from fabricsim.explore.report import pareto_mask, sweep_report
from fabricsim.explore.spec import load_sweep


def _write(tmp_path, text, name="sweep.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_points_multiply_grid_zip_and_samples(tmp_path):
    path = _write(tmp_path, """
        base: {cluster: {gpus: 8192}}
        grid: {fabric.optics: [dsp, lpo, cpo]}
        zip: [{cluster.gpus: [8192, 16384], economics.years: [3, 5]}]
        samples: {n: 4, method: lhs, ranges: {economics.energy_usd_per_kwh: [0.04, 0.12]}}
    """)
    sweep, base = load_sweep(path)
    points = expand(sweep, base)
    assert len(points) == 3 * 2 * 4
    assert len({p.key for p in points}) == len(points)
    first = points[0]
    assert first.scenario["fabric"]["optics"] == "dsp" and first.scenario["cluster"]["gpus"] == 8192
    assert {(p.scenario["cluster"]["gpus"], p.scenario["economics"]["years"]) for p in points} == {(8192, 3), (16384, 5)}
    # the same file gives the same keys (resume depends on it)
    assert [p.key for p in expand(*load_sweep(path))] == [p.key for p in points]


def test_latin_hypercube_puts_one_sample_in_every_stratum(tmp_path):
    path = _write(tmp_path, """
        samples: {n: 50, method: lhs, seed: 3,
                  ranges: {economics.pue: [1.1, 1.6], cluster.gpus: {low: 1024, high: 131072, log: true, integer: true}}}
    """)
    points = expand(*load_sweep(path))
    pue = np.array([p.axes["economics.pue"] for p in points])
    assert sorted(np.floor((pue - 1.1) / 0.5 * 50).astype(int)) == list(range(50))
    gpus = np.array([p.axes["cluster.gpus"] for p in points])
    assert gpus.dtype.kind == "i" and gpus.min() >= 1024 and gpus.max() <= 131072
    strata = np.floor(np.log(gpus / 1024) / np.log(128) * 50).clip(0, 49).astype(int)
    assert len(set(strata)) >= 48  # integer rounding may merge a stratum or two


@pytest.mark.parametrize("text,match", [
    ("grid: {cluster.gpus: []}", "has no values"),
    ("zip: [{cluster.gpus: [1, 2], fabric.planes: [1]}]", "same length"),
    ("grid: {cluster.gpus: [1]}\nzip: [{cluster.gpus: [2]}]", "more than once"),
    ("measure: [plan, cooking]", "measure"),
    ("samples: {n: 3, ranges: {economics.pue: [2, 1]}}", "low <= high"),
    ("grid: {cluster.gpus: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\nsamples: {n: 200000, ranges: {economics.pue: [1, 2]}}",
     "most a sweep runs"),
    ("- not a mapping", "must be a mapping"),
])
def test_bad_sweep_files_are_named(tmp_path, text, match):
    with pytest.raises(FabricsimError, match=match):
        load_sweep(_write(tmp_path, text))


def test_a_failing_point_records_its_error_and_the_sweep_goes_on(tmp_path):
    path = _write(tmp_path, """
        grid: {cluster.gpus: [1024, 3000000], fabric.tiers: [2]}
    """)
    run = run_sweep(path, out=tmp_path / "out", workers=1)
    table = pq.read_table(tmp_path / "out").to_pylist()
    assert run.ran == 2 and run.failed == 1
    bad = next(r for r in table if r["in.cluster.gpus"] == 3000000)
    assert bad["status"] == "error" and "tiers" in bad["error"]
    good = next(r for r in table if r["in.cluster.gpus"] == 1024)
    assert good["status"] == "ok" and good["switches"] > 0 and 0 < good["network_power_share"] < 1


SLOW = """
    base: {cluster: {gpus: 4096}}
    measure: [plan, economics, reliability]
    grid:
      cluster.gpus: [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
      fabric.optics: [dsp, lpo, lro, cpo, xpo]
      economics.years: [3, 4, 5, 6, 7]
      reliability.days: [30, 54]
"""


def test_a_sweep_killed_with_sigkill_resumes_without_duplicates_or_gaps(tmp_path):
    path = _write(tmp_path, SLOW)
    out = tmp_path / "out"
    code = f"from fabricsim.explore import run_sweep; run_sweep({str(path)!r}, out={str(out)!r}, workers=1, batch_size=4)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(list(out.glob("part-*.parquet"))) < 3:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(pq.read_table(out))
    assert 0 < before < 400
    run = run_sweep(path, out=out, workers=1)
    rows = pq.read_table(out).to_pylist()
    assert run.skipped == before and run.ran == 400 - before
    assert len(rows) == 400 and len({r["key"] for r in rows}) == 400


def test_local_and_ray_engines_give_identical_rows(tmp_path):
    pytest.importorskip("ray")
    path = _write(tmp_path, """
        measure: [plan, economics, collectives]
        grid: {cluster.gpus: [4096, 16384], fabric.optics: [dsp, cpo]}
    """)
    run_sweep(path, out=tmp_path / "local", workers=2, batch_size=1)
    ray_run = run_sweep(path, out=tmp_path / "ray", engine="ray", batch_size=2)
    assert ray_run.facts["tasks"] == 2
    drop = {"seconds"}

    def rows(folder):
        return sorted(({k: v for k, v in r.items() if k not in drop} for r in pq.read_table(folder).to_pylist()),
                      key=lambda r: r["key"])

    assert rows(tmp_path / "local") == rows(tmp_path / "ray")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=40),
       st.sampled_from(["min", "max"]))
def test_pareto_front_keeps_exactly_the_undominated_points(pairs, sense):
    x = np.array([p[0] for p in pairs], dtype=float)
    y = np.array([p[1] for p in pairs], dtype=float)
    keep = pareto_mask(x, y, "min", sense)
    yy = y if sense == "min" else -y
    for i in range(x.size):
        dominated = any((x[j] <= x[i] and yy[j] <= yy[i]) and (x[j] < x[i] or yy[j] < yy[i]) for j in range(x.size))
        if dominated:
            assert not keep[i]
    # every point is dominated by, or equal to, a kept point
    for i in range(x.size):
        assert any(x[j] <= x[i] and yy[j] <= yy[i] for j in np.nonzero(keep)[0])


def test_report_draws_fronts_and_trends(tmp_path):
    path = _write(tmp_path, """
        measure: [plan, economics, reliability]
        grid: {cluster.gpus: [4096, 16384, 65536], fabric.optics: [dsp, lpo, cpo]}
    """)
    run_sweep(path, out=tmp_path / "out", workers=1)
    drawn = sweep_report(tmp_path / "out", tmp_path / "report.html")
    text = (tmp_path / "report.html").read_text()
    assert drawn["points"] == 9 and drawn["fronts"] and "Pareto-optimal points" in text
    assert text.count("<script") >= 2 and "plotly" in text.lower()


def test_parallelism_search_finds_a_valid_fast_layout_and_explains_it():
    """Llama 3 8B on 64 H100: every candidate divides the cluster and the batch, TP stays inside the
    8-GPU domain; the winner is no slower than any other and the explanation names step-time parts."""
    from fabricsim.explore.search import search_parallelism
    from fabricsim.scenario import scenario_from_dict

    scenario = scenario_from_dict({"cluster": {"gpus": 64}, "workload": {"train": {
        "model": "llama3-8b", "tp": 2, "pp": 1, "global_batch": 128, "seq": 4096}}})
    result = search_parallelism(scenario, flow_top=2)
    assert result.fitted > 10 and result.ranked
    for c in result.ranked:
        s = c.settings
        assert s["tp"] * s["pp"] * s["cp"] * s["dp"] == 64 and s["tp"] <= 8 and 128 % s["dp"] == 0
    times = [c.step_time_s for c in result.ranked]
    assert times[0] == min(times) and result.ranked[0].communication == "flow"
    assert result.baseline is not None and result.baseline.step_time_s >= times[0]
    assert result.reasons and "ms" in result.reasons[0]


def test_parallelism_search_tries_expert_parallelism_on_moe_models():
    """Mixtral 8x7B (8 routed experts) on 64 H100: layouts with ep > 1 are enumerated -- ep dividing the
    experts and ep x expert_tp dividing tp x cp x dp, the rule training itself checks -- and timed."""
    from fabricsim.explore.search import candidate_settings, search_parallelism
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.workload.parallelism import Parallelism, check_parallelism

    scenario = scenario_from_dict({"cluster": {"gpus": 64}, "workload": {"train": {
        "model": "mixtral-8x7b", "tp": 2, "pp": 1, "global_batch": 128, "seq": 4096}}})
    model = scenario.catalog().get("models", "mixtral-8x7b")
    for expert_tp in (None, 1):
        settings = candidate_settings(model, 64, 8, 128, 4096, expert_tp)
        eps = {s["ep"] for s in settings}
        assert eps == {1, 2, 4, 8}
        for s in settings:
            par = Parallelism(s["tp"], s["pp"], s["cp"], s["dp"], s["ep"], etp=expert_tp or s["tp"])
            check_parallelism(par, 64, model, 8)  # every candidate passes training's own checks
    # the step fits HBM on 64 GPUs at mb 4 and ZeRO-1 only with the experts split over EP ranks
    result = search_parallelism(scenario, flow_top=0, fixed={"tp": 2, "pp": 1, "cp": 1, "micro_batch": 4, "zero": 1})
    assert result.tried == 4 and result.ranked
    assert all(c.settings["ep"] > 1 and f"EP{c.settings['ep']}" in c.label for c in result.ranked)


def test_sweep_and_report_commands(tmp_path):
    from typer.testing import CliRunner

    from fabricsim.cli import app

    runner = CliRunner()
    path = _write(tmp_path, """
        grid: {cluster.gpus: [4096, 8192], fabric.optics: [dsp, lpo]}
    """)
    out = tmp_path / "out"
    first = runner.invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1"])
    assert first.exit_code == 0, first.output
    assert "4 points, 0 already done, 4 run (0 failed)" in first.output
    again = runner.invoke(app, ["sweep", str(path), "--out", str(out)])
    assert "4 already done, 0 run" in again.output
    report = runner.invoke(app, ["sweep-report", str(out), "--html", str(tmp_path / "r.html"),
                                 "--front", "capex_per_gpu_usd,network_power_share"])
    assert report.exit_code == 0 and (tmp_path / "r.html").exists(), report.output
    bad = runner.invoke(app, ["sweep-report", str(out), "--front", "capex_per_gpu_usd"])
    assert bad.exit_code == 2 and "x,y" in bad.output
    missing = runner.invoke(app, ["sweep", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2


def test_train_search_command_keeps_fixed_degrees():
    import json

    from typer.testing import CliRunner

    from fabricsim.cli import app

    result = CliRunner().invoke(app, ["train", "--set", "cluster.gpus=64", "--model", "llama3-8b", "--gbs", "128",
                                      "--seq", "4096", "--tp", "4", "--search", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ranked"] and all(c["settings"]["tp"] == 4 for c in data["ranked"])
