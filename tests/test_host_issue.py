"""One host thread driving several GPUs (nccl-tests -g): the thread issues every GPU's call in turn, so a call
repeats no faster than gpus_per_thread x the library's host time per call (collectives/timing.host_issue_s).
Known values: the fitted Azure ND A100 v4 -g 8 64 KiB row (42.48 us = 8 x 5.31 us) and the held-out H100 runs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.collectives.algorithms import nccl_tests_bytes
from fabricsim.collectives.api import run_collective
from fabricsim.collectives.timing import host_issue_s, library
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario

KiB, MiB, GiB = 2**10, 2**20, 2**30
HOST_CALL_S = 5.31e-6  # collective_libraries nccl host_call_s (fitted on nccl-ar-azure-nd-a100-v4-64kib)


@pytest.fixture(scope="module")
def a100x8():
    return fabric_from_scenario(scenario_from_dict(
        {"cluster": {"gpu": "a100-sxm", "gpus": 8}, "fabric": {"collective_library": "nccl-2.18"}}))


@pytest.fixture(scope="module")
def h100x4():
    return fabric_from_scenario(scenario_from_dict(
        {"cluster": {"gpu": "h100-sxm", "gpus": 4}, "fabric": {"collective_library": "nccl-2.29"}}))


def test_catalog_value_and_fit(a100x8):
    """host_call_s is the fitted 42.48 us / 8, inherited by every NCCL release entry."""
    assert library(a100x8.design).host_call_s == pytest.approx(2 * 7 / 8 * 65536 / 2.70e9 / 8, rel=2e-3)
    assert host_issue_s(a100x8.design, 8) == pytest.approx(8 * HOST_CALL_S)
    assert host_issue_s(a100x8.design, 1) == pytest.approx(HOST_CALL_S)


def test_small_messages_take_the_hosts_floor(a100x8):
    """-g 8 on 8 A100: 1 KiB to 64 KiB calls take exactly 8 x host_call_s (the GPUs need 22-24 us), flagged
    host-bound; one process per GPU takes the GPUs' own time; from 1 MiB the GPUs bind and -g changes nothing."""
    sizes = [KiB, 64 * KiB, MiB, 16 * MiB, GiB]
    one = run_collective(a100x8, "all_reduce", sizes=sizes, in_place=True).results
    eight = run_collective(a100x8, "all_reduce", sizes=sizes, in_place=True, gpus_per_thread=8).results
    for r in eight[:2]:
        assert r.time_s == pytest.approx(8 * HOST_CALL_S) and r.host_bound
        assert r.delivered == pytest.approx(1.0)
    for r in one[:2]:
        assert r.time_s < 25e-6 and not r.host_bound
    for a, b in zip(one[2:], eight[2:]):
        assert b.time_s == a.time_s and not b.host_bound
    # the Azure 64 KiB row it was fitted on: 2.70 GB/s bus bandwidth
    assert eight[1].busbw_bytes_per_s == pytest.approx(2.70e9, rel=2e-3)


def test_four_gpus_per_thread_on_h100(h100x4):
    """The held-out -g 4 H100 reduce-scatter at 1 KiB (21.36 us published, NCCL 2.29.2): 4 x 5.31 = 21.2 us."""
    r = run_collective(h100x4, "reduce_scatter", sizes=[KiB], gpus_per_thread=4).results[0]
    assert r.time_s == pytest.approx(21.24e-6, rel=1e-3)
    assert r.time_s == pytest.approx(21.36e-6, rel=0.02)


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 2**31), threads=st.integers(1, 8), op=st.sampled_from(["all_reduce", "all_gather",
                                                                                    "reduce_scatter", "all_to_all"]))
def test_time_is_the_larger_of_gpu_and_host(a100x8, size, threads, op):
    """Invariant: time = max(the one-process-per-GPU time, threads x host_call_s); never faster with more GPUs
    per thread; algbw x time = the padded bytes."""
    base = run_collective(a100x8, op, sizes=[size], method="analytic").results[0]
    more = run_collective(a100x8, op, sizes=[size], method="analytic", gpus_per_thread=threads).results[0]
    assert more.time_s == pytest.approx(max(base.time_s, threads * HOST_CALL_S), rel=1e-12)
    assert more.time_s >= base.time_s
    assert more.algbw_bytes_per_s * more.time_s == pytest.approx(nccl_tests_bytes(op, size, 8), rel=1e-9)


@pytest.mark.parametrize("bad", [0, 9, -1, True, 2.5])
def test_bad_gpus_per_thread_is_named(a100x8, bad):
    with pytest.raises(FabricsimError, match=r"--gpus-per-thread=.*between 1 GPU and all 8 ranks"):
        run_collective(a100x8, "all_reduce", sizes=[KiB], gpus_per_thread=bad)


def test_cli_flag_and_note(tmp_path):
    """fabricsim collective --gpus-per-thread 8: the JSON carries the floor, the table says the host binds."""
    from typer.testing import CliRunner

    from fabricsim.cli import app

    path = tmp_path / "a100x8.yaml"
    path.write_text("cluster: {gpu: a100-sxm, gpus: 8}\nfabric: {collective_library: nccl-2.18}\n")
    args = ["collective", str(path), "--sizes", "1KiB,1GiB", "--no-evidence", "--gpus-per-thread", "8"]
    out = CliRunner().invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["gpus_per_thread"] == 8
    assert [r["host_bound"] for r in doc["results"]] == [True, False]
    assert doc["results"][0]["time_s"] == pytest.approx(8 * HOST_CALL_S)
    text = CliRunner().invoke(app, args, terminal_width=200)
    assert text.exit_code == 0, text.output
    assert "at 1 KiB the host binds" in text.output and "nccl-tests -g 8" in text.output
    bad = CliRunner().invoke(app, ["collective", str(path), "--sizes", "1KiB", "--gpus-per-thread", "9"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output and "between 1 GPU and all 8 ranks" in bad.output


def test_nccl_options_refused_on_a_torus(tmp_path):
    """A torus (or multi-site) scenario is not timed as an NCCL run: its NCCL flags are refused by name, not
    silently dropped."""
    from typer.testing import CliRunner

    from fabricsim.cli import app

    path = tmp_path / "torus.yaml"
    path.write_text("cluster: {gpu: tpu-v4, gpus: 64}\n"
                    "fabric: {topology: torus, torus: {dims: [4, 4, 4], ocs: palomar-136}}\n")
    out = CliRunner().invoke(app, ["collective", str(path), "--sizes", "1MiB", "--gpus-per-thread", "8", "--in-place"])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert "--in-place, --gpus-per-thread: NCCL options" in out.output and "is a torus" in out.output
    plain = CliRunner().invoke(app, ["collective", str(path), "--sizes", "1MiB", "--no-evidence", "--json"])
    assert plain.exit_code == 0, plain.output
