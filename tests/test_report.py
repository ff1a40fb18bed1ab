"""The end-to-end run and its HTML report: content, self-containment, atomic writes."""

import os

import pytest

from fabricsim.api import run
from fabricsim.io import write_atomic
from fabricsim.report.html import build_html, write_html
from fabricsim.scenario import scenario_from_dict


@pytest.fixture(scope="module")
def small_run():
    return run(scenario_from_dict({"cluster": {"gpus": 512}, "reliability": {"runs": 50}}))


def test_run_answers_every_layer(small_run):
    assert small_run.plan.gpus == 512
    assert small_run.tco.usd_per_gpu_hour > 0
    assert {c.load_balancing for c in small_run.collectives} >= {"ecmp", "spray"}
    rel = small_run.reliability
    assert rel.monte_carlo.runs == 50
    # more GPUs, shorter interval: the scaling curve falls monotonically
    mtbi = [row["mtbi_s"] for row in small_run.scaling]
    assert all(a > b for a, b in zip(mtbi, mtbi[1:]))
    assert small_run.optics_failures["cpo"] < small_run.optics_failures["dsp"]


def test_html_is_self_contained_with_every_section(small_run, tmp_path):
    page = build_html(small_run)
    for heading in ("Where the power and the money go", "Fabric", "Optics", "Collectives", "Reliability"):
        assert heading in page
    assert page.count("plotly.js v") == 1  # the plotly library is inlined once, not fetched
    assert "<script src=" not in page  # nothing loaded from the network
    path = tmp_path / "report.html"
    write_html(small_run, path)
    written = path.read_text()
    assert len(written) == len(page) and written.endswith("</html>")  # same page (plotly div ids are random)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_text("old")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new content")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
