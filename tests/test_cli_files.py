"""Output files and options as a user meets them (issue 17 items 5, 7 and 8): modes from the umask,
links and special files written in place, the --html destination checked before any work, bounded
options, full-width piped output, flags shown as flags, Ctrl-C."""

import os
import stat

import pytest
from typer.testing import CliRunner

import fabricsim.api
from fabricsim.cli import app
from fabricsim.errors import FabricsimError
from fabricsim.io import check_writable, write_text

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_new_files_get_the_umask_mode_and_existing_files_keep_theirs(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.html", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.html").stat().st_mode) == 0o640
    kept = tmp_path / "b.html"
    kept.write_text("old")
    kept.chmod(0o604)
    write_text(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_text() == "new"


def test_a_symlink_is_written_through_not_replaced(tmp_path):
    target, link = tmp_path / "target.html", tmp_path / "link.html"
    target.write_text("old")
    link.symlink_to(target)
    write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_stream_is_appended_to_in_place(tmp_path):
    fifo_like = tmp_path / "stream"
    os.mkfifo(fifo_like)
    read_end = os.open(fifo_like, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_text(fifo_like, "through the pipe")
        assert os.read(read_end, 100) == b"through the pipe"
    finally:
        os.close(read_end)
    assert stat.S_ISFIFO(os.stat(fifo_like).st_mode)  # still a pipe, not a regular file


@pytest.mark.parametrize("make,needle", [
    (lambda d: "", "empty file name"),
    (lambda d: str(d), "is a directory"),
    (lambda d: str(d / "file.txt" / "report.html"), "cannot write there"),
])
def test_html_destination_is_checked_before_the_run(tmp_path, monkeypatch, make, needle):
    (tmp_path / "file.txt").write_text("a file, not a folder")

    def no_run(*args, **kwargs):
        raise AssertionError("the run started before the destination was checked")

    monkeypatch.setattr(fabricsim.api, "run", no_run)
    result = invoke("run", "--set", "cluster.gpus=8", "--html", make(tmp_path))
    assert result.exit_code == 2 and needle in result.output, result.output


def test_check_writable_makes_missing_folders_and_leaves_no_probe(tmp_path):
    path = check_writable(tmp_path / "new" / "deeper" / "r.html")
    assert path.parent.is_dir() and list(path.parent.iterdir()) == []
    with pytest.raises(FabricsimError):
        check_writable(tmp_path / "new")  # a directory


@pytest.mark.parametrize("args,needle", [
    (("--sizes", "1e400"), "finite"),
    (("--sizes", ",".join(["1MiB"] * 1025)), "at most 1024 sizes"),
    (("--sizes", "1B:2PiB"), "at most 1,024 TiB"),
    (("--sizes", "0"), "at least 1 byte"),
    (("--fail-links", "-1"), "--fail-links"),
    (("--fail-links", "100000", "--fail-tier", "1"), "cannot fail 100000 links"),
    (("--channels", "-1"), "--channels"),
    (("--channels", "1000"), "--channels"),
    (("--min-channels", "0"), "--min-channels"),
    (("--min-channels", "65"), "--min-channels"),
    (("--seed", "-1"), "--seed"),
    (("--seed", str(2**70)), "--seed"),
    (("--ranks", "0"), "--ranks"),
    (("--ranks", "100"), "more than the cluster's 64 GPUs"),
    (("--method", "exact"), "valid methods"),
    (("--op", "all_to_all", "--ranks", "5000", "--method", "flow", "--set", "cluster.gpus=8192"), "--method flow"),
])
def test_collective_options_are_bounded(args, needle):
    result = invoke("collective", "--set", "cluster.gpus=64", *args)
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_all_to_all_beyond_the_flow_bound_is_timed_analytically_with_a_note():
    result = invoke("collective", "--set", "cluster.gpus=8192", "--op", "all_to_all", "--sizes", "1MiB", "--json")
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.stdout)
    assert data["notes"] and "analytically" in data["notes"][0] and data["results"][0]["time_s"] > 0


def test_piped_tables_are_not_cut_to_80_columns():
    result = invoke("plan", "--set", "cluster.gpus=64")
    assert result.exit_code == 0
    assert "…" not in result.stdout  # rich marks a cut cell with an ellipsis
    assert "64 × h100-sxm in 8 hgx-h100-8 domains, 8 servers, 2 GPU racks" in result.stdout  # one line, not wrapped


def test_help_shows_flags_as_flags():
    result = invoke("run", "--help")
    assert "--json" in result.output and "<bool>" not in result.output


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fabricsim.api, "run", interrupted)
    result = invoke("run", "--set", "cluster.gpus=8")
    assert result.exit_code == 130 and "interrupted" in result.output and "Traceback" not in result.output
