"""Hostile files and values get one readable sentence (FabricsimError, exit code 2), never a traceback,
a hang or a silent NaN: issue 17 items 2-4 and 8, reproduced."""

import math
import os
import time

import pytest
from typer.testing import CliRunner

from fabricsim.catalog import loader
from fabricsim.cli import app
from fabricsim.errors import FabricsimError
from fabricsim.io import MAX_YAML_BYTES, MAX_YAML_DEPTH, parse_yaml, read_yaml_file
from fabricsim.scenario import load_scenario, scenario_from_dict

runner = CliRunner()

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))


def _error(func, *args) -> str:
    with pytest.raises(FabricsimError) as info:
        func(*args)
    return str(info.value)


@pytest.mark.parametrize("content,needle", [
    (b"name: caf\xe9\n", "not UTF-8 text (byte 0xe9 at offset 9)"),
    (("a: " + "[" * 5000 + "]" * 5000).encode(), f"nested deeper than {MAX_YAML_DEPTH} levels"),
    (b"cluster: {gpus: !!float abc}\n", "could not convert string to float: 'abc'"),
    (BOMB.encode(), "aliases expand the document past"),
    (b"a: &a [1, *a]\n", "recursive document"),
    (b"a: !!python/object/apply:os.system [ls]\n", "could not determine a constructor"),
    (b"cluster:\n  gpus: [8\n", "line 3"),
])
def test_hostile_yaml_files_get_one_sentence(tmp_path, content, needle):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    start = time.perf_counter()
    message = _error(load_scenario, path)
    assert needle in message and str(path) in message
    assert time.perf_counter() - start < 2.0  # the bomb is refused, not expanded or printed
    assert len(message) < 500


def test_aliases_within_the_bound_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("defaults: &d {gpus: 64, gpus_per_server: 8}\ncluster: *d\n")
    assert read_yaml_file(path)["cluster"] == {"gpus": 64, "gpus_per_server": 8}


@pytest.mark.parametrize("make,needle", [
    (lambda d: d, "is a directory"),
    (lambda d: "/dev/zero", f"larger than {MAX_YAML_BYTES // 2**20} MiB"),
    (lambda d: os.path.join(d, "x" * 5000 + ".yaml"), "File name too long"),
    (lambda d: os.path.join(d, "missing.yaml"), "not found"),
    (lambda d: "a\0b.yaml", "embedded null byte"),
])
def test_files_that_are_not_yaml_files(tmp_path, make, needle):
    message = _error(load_scenario, make(str(tmp_path)))
    assert needle in message
    assert len(message) < 400  # a 5,000-character path is echoed shortened


@pytest.mark.parametrize("catalog_file,needle", [
    ("/dev/zero", "larger than"),
    ("{tmp}", "is a directory"),
    ("{tmp}/wrong.yaml", "switches.x=5: an entry is a mapping of fields"),
    ("{tmp}/nan.yaml", "finite"),
    ("{tmp}/huge.yaml", "between 1e-12 and 1e+18"),
    ("{tmp}/name.yaml", "switches.a[b]"),
])
def test_user_catalogs_are_validated_like_built_in_ones(tmp_path, catalog_file, needle):
    (tmp_path / "wrong.yaml").write_text("switches: {x: 5}\n")
    (tmp_path / "nan.yaml").write_text("gpus:\n  h100-sxm: {power_w: .nan}\n")
    gpu = dict(loader.default_catalog().gpu("h100-sxm").model_dump(), power_w=1.0e+300)
    gpu.pop("name")
    import yaml

    (tmp_path / "huge.yaml").write_text(yaml.safe_dump({"gpus": {"big-gpu": gpu}}))
    (tmp_path / "name.yaml").write_text('switches:\n  "a[b]": {source: x}\n')
    message = _error(scenario_from_dict, {"catalog_files": [catalog_file.format(tmp=tmp_path)]})
    assert needle in message


@pytest.mark.parametrize("data,field", [
    ({"fabric": {"oversubscription": [math.nan, 1]}}, "fabric.oversubscription.0"),
    ({"economics": {"prices": {"dsp-400g": math.inf}}}, "economics.prices.dsp-400g"),
    ({"cluster": {"scale_out_per_gpu": math.inf}}, "cluster.scale_out_per_gpu"),
    ({"cluster": {"scale_out_per_gpu": "1e400G"}}, "cluster.scale_out_per_gpu"),
    ({"cluster": {"gpus_per_server": 1e100}}, "cluster.gpus_per_server"),
    ({"cluster": {"gpus": True}}, "cluster.gpus"),
    ({"cluster": {"gpus": 10**9}}, "cluster.gpus"),
    ({"reliability": {"job_restart_s": 1e12}}, "reliability.job_restart_s"),
    ({"reliability": {"runs": 10_000_000}}, "reliability.runs"),
    ({"reliability": {"days": 1e9}}, "reliability.days"),
    ({"reliability": {"seed": -1}}, "reliability.seed"),
    ({"reliability": {"rates": {"gpu": math.inf}}}, "reliability.rates.gpu"),
    ({"economics": {"years": 1e-300}}, "economics.years"),
    ({"workload": {"train": {"seq": 2**40}}}, "workload.train.seq"),
    ({"workload": {"train": {"jitter_s": math.nan}}}, "workload.train.jitter_s"),
    ({"layout": {"leaf_to_spine_m": math.inf}}, "layout.leaf_to_spine_m"),
])
def test_non_finite_and_absurd_values_are_refused_naming_the_field(data, field):
    assert field in _error(scenario_from_dict, data)


def test_echoed_values_are_shortened():
    message = _error(scenario_from_dict, {"cluster": {"gpu": "x" * 100_000}, "fabric": {"switch": ["y" * 100_000]}})
    assert len(message) < 2_000
    message = _error(scenario_from_dict, {f"field{i}": "z" * 10_000 for i in range(200)})
    assert len(message) < 2_000 and "more" in message


def test_user_catalog_is_read_once_while_unchanged(tmp_path, monkeypatch):
    user = tmp_path / "parts.yaml"
    user.write_text("models: {}\n")
    reads = []
    real = loader._parse_sections
    monkeypatch.setattr(loader, "_parse_sections", lambda *a: reads.append(a) or real(*a))
    scenario = scenario_from_dict({"catalog_files": [str(user)], "cluster": {"gpus": 64}})
    for _ in range(5):
        scenario.catalog()
    assert len(reads) == 1
    user.write_text("models: {}\n# changed\n")
    scenario.catalog()
    assert len(reads) == 2


def test_title_follows_set():
    assert load_scenario(None, ["cluster.gpus=64"]).name.startswith("64 × h100-sxm")
    named = load_scenario("examples/16k-h100-ndr.yaml", ["cluster.gpus=64"])
    assert "with cluster.gpus=64" in named.name
    assert load_scenario(None).name.startswith("default: 16,384 H100")


def test_cli_exit_2_and_one_paragraph(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    result = runner.invoke(app, ["plan", str(bomb)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.count("\n") <= 3


def test_markup_in_a_name_is_shown_as_text():
    result = runner.invoke(app, ["plan", "--set", "name=[/bold] a [red]name", "--set", "cluster.gpus=64",
                                 "--no-compare-optics"])
    assert result.exit_code == 0, result.output
    assert "[/bold] a [red]name" in result.output


def test_set_values_are_parsed_within_the_bounds():
    assert parse_yaml("[1, 2]", "--set x") == [1, 2]
    message = _error(scenario_from_dict, {"name": "[" * 10_000})  # a non-YAML --set value is its text
    assert "name" in message
