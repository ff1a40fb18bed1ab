"""`fabricsim train` / `infer`: JSON output and exit code 2 on bad input."""

import json

from typer.testing import CliRunner

from fabricsim.cli import app

runner = CliRunner()
SMALL = ["--set", "cluster.gpus=64"]


def test_train_json_reports_step_breakdown_and_collectives():
    out = runner.invoke(app, ["train", *SMALL, "--model", "llama3-8b", "--tp", "8", "--pp", "2", "--dp", "4",
                              "--gbs", "32", "--seq", "4096", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert abs(sum(data["breakdown_s"].values()) - data["step_time_s"]) < 1e-9
    assert 0 < data["mfu"] < 1
    assert {c["kind"] for c in data["collectives"]} >= {"tp", "pp", "dp"}


def test_train_bad_input_exits_2_with_the_field_named():
    for args, needle in ((["--model", "llama3-8b", "--tp", "8", "--pp", "4", "--dp", "4"], "use dp=2"),
                         (["--model", "gpt4"], "workload.train.model"),
                         (["--model", "llama3-8b", "--tp", "8", "--pp", "1", "--dp", "8", "--recompute", "some"],
                          "recompute")):
        out = runner.invoke(app, ["train", *SMALL, *args])
        assert out.exit_code == 2, out.output
        assert needle in out.output


def test_infer_json_and_bad_ep():
    ok = runner.invoke(app, ["infer", *SMALL, "--model", "llama3-70b", "--prefill-gpus", "8", "--decode-gpus", "8",
                             "--tp", "8", "--batch", "16", "--context", "4096", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["ttft_s"] > data["prefill_s"] > 0 and data["tpot_s"] > 0
    bad = runner.invoke(app, ["infer", *SMALL, "--model", "mixtral-8x7b", "--decode-gpus", "8", "--prefill-gpus", "8",
                              "--ep", "3"])
    assert bad.exit_code == 2 and "ep=3" in bad.output


def test_train_schedule_dualpipe_from_the_command_line():
    """--schedule dualpipe runs DeepSeek-V3's schedule; a schedule it cannot run is refused by name."""
    job = ["--model", "llama3-8b", "--tp", "8", "--pp", "4", "--dp", "2", "--gbs", "32", "--seq", "4096"]
    out = runner.invoke(app, ["train", *SMALL, *job, "--schedule", "dualpipe", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["pipeline_schedule"] == "dualpipe"
    assert abs(sum(data["breakdown_s"].values()) - data["step_time_s"]) < 1e-9
    for args, needle in ((["--schedule", "dualpipe", "--gbs", "12"], "at least 2 x pp = 8"),
                         (["--schedule", "zigzag"], "pipeline_schedule")):
        out = runner.invoke(app, ["train", *SMALL, *job, *args])
        assert out.exit_code == 2, out.output
        assert needle in out.output


def test_train_table_states_the_attention_rate_it_charged():
    """The per-micro-batch table names the attention kernel's achieved share of dense BF16 peak: executed attention
    FLOPs over attention seconds over the peak, the figure a practitioner compares with a kernel benchmark."""
    import re

    from fabricsim.scenario import scenario_from_dict
    from fabricsim.workload import train

    args = dict(model="llama3-8b", tp=8, pp=2, dp=4, global_batch=32, seq=4096)
    out = runner.invoke(app, ["train", *SMALL, "--model", "llama3-8b", "--tp", "8", "--pp", "2", "--dp", "4",
                              "--gbs", "32", "--seq", "4096"])
    assert out.exit_code == 0, out.output
    shown = int(re.search(r"attention \((\d+)% of dense BF16 peak\)", out.stdout).group(1))
    result = train(scenario_from_dict({"cluster": {"gpus": 64}}), **args)
    stage = result.stage
    assert shown == round(100 * stage.attention_flops / stage.attention_s / result.peak_flops_per_gpu)
    assert 10 <= shown <= 60
