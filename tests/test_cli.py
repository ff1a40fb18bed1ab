"""The command line as a user meets it: exit codes, JSON output, one-paragraph errors."""

import json

import pytest
from typer.testing import CliRunner

from fabricsim.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_plan_json_of_the_example_with_cpo_override():
    result = invoke("plan", "examples/100k-b200-tomahawk6-lpo.yaml", "--set", "fabric.optics=cpo", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    plan = data["plan"]
    assert plan["gpus"] == 100_000 and plan["tiers"] == 3
    assert any(line["kind"] == "cpo" for line in plan["media_lines"])
    families = [o["family"] for o in data["optics_options"]]
    assert families == ["dsp", "lpo", "lro", "cpo", "xpo"]


def test_run_without_a_file_uses_the_default_scenario():
    result = invoke("run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plan"]["gpus"] == 16384


def test_catalog_list_and_show():
    listed = invoke("catalog", "list", "switches")
    assert listed.exit_code == 0 and "tomahawk6" in listed.stdout
    shown = invoke("catalog", "show", "media", "lpo-800g", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["family"] == "lpo"


@pytest.mark.parametrize("args,needle", [
    (("plan", "--set", "cluster.gpu=h100"), "h100-sxm"),
    (("plan", "--set", "cluster.gpus=0"), "cluster.gpus"),
    (("plan", "--set", "fabric.tiers=2", "--set", "cluster.gpus=20000"), "use tiers=3"),
    (("plan", "no-such-file.yaml"), "file not found"),
    (("catalog", "list", "gpu"), "valid sections"),
    (("collective", "--op", "allreduce"), "valid operations"),
    (("collective", "--op", "all_reduce", "--algo", "butterfly", "--set", "cluster.gpus=64"), "valid algorithms"),
    (("collective", "--sizes", "8GiB:1MiB", "--set", "cluster.gpus=64"), "below the start"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(args, needle):
    result = invoke(*args)
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output


def test_yaml_error_reports_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster:\n  gpus: [8\n")
    result = invoke("plan", str(bad))
    assert result.exit_code == 2 and "line" in result.output
