"""The web API through FastAPI's test client: the CLI's documents, its error messages, cost bounds,
the cache and concurrency (a long run does not hold up plans)."""

import json
import threading
import time

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fabricsim.cli import app as cli_app
from fabricsim.scenario import load_scenario, scenario_from_dict
from fabricsim.web import create_app
from fabricsim.web.limits import Limits

SMALL = {"cluster": {"gpus": 1024}}
LIMITS = Limits(flow_gpus=32768, monte_carlo_runs=5000, queued_jobs=16)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(LIMITS, workers=1)) as c:
        yield c


def cli_json(*args):
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_error(*args):
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 2, result.output
    return result.output.split("error:", 1)[1].strip()


def test_plan_is_the_cli_document_and_counts_a_two_tier_fat_tree(client):
    response = client.post("/api/plan", json={"scenario": {"cluster": {"gpus": 2048}}})
    assert response.status_code == 200
    doc = response.json()
    assert doc == cli_json("plan", "--set", "cluster.gpus=2048", "--json")
    # 2,048 GPUs on 64-port switches: 64 leaves (32 down, 32 up) and 2,048 / 64 = 32 spines
    assert doc["plan"]["tiers"] == 2 and doc["plan"]["switches_total"] == 64 + 32


def test_run_is_the_cli_document(client):
    response = client.post("/api/run", json={"scenario": SMALL})
    assert response.status_code == 200
    doc = response.json()
    assert doc == cli_json("run", "--set", "cluster.gpus=1024", "--json")
    assert doc["reliability"]["mtbi_s"] > 0 and doc["training"]["communication"] == "flow"


def test_identical_requests_are_answered_from_the_cache(client):
    body = {"scenario": {"cluster": {"gpus": 3072}}, "count_only": True}
    first = client.post("/api/plan", json=body)
    second = client.post("/api/plan", json=body)
    assert first.headers["x-fabricsim-cache"] == "miss" and second.headers["x-fabricsim-cache"] == "hit"
    assert first.json() == second.json()


def test_bad_scenario_gets_the_cli_message(client):
    response = client.post("/api/plan", json={"scenario": {"cluster": {"gpu": "h900"}}})
    assert response.status_code == 422
    assert response.json()["error"] == cli_error("plan", "--set", "cluster.gpu=h900")
    assert "cluster.gpu" in response.json()["error"] and "h100-sxm" in response.json()["error"]


def test_bad_field_value_names_the_field_as_the_cli_does(client):
    response = client.post("/api/plan", json={"set": ["cluster.gpus=-5"]})
    assert response.status_code == 422
    api_message = response.json()["error"]
    cli_message = cli_error("plan", "--set", "cluster.gpus=-5")
    field_part = "cluster.gpus=-5: Input should be greater than 0"
    assert field_part in api_message and field_part in cli_message


def test_bad_option_and_unknown_option_name_the_field(client):
    response = client.post("/api/plan", json={"count_only": "maybe"})
    assert response.status_code == 422 and response.json()["error"].startswith("invalid input in the request body: "
                                                                                "count_only='maybe'")
    response = client.post("/api/train", json={"tpp": 8})
    assert response.status_code == 422 and "tpp: unknown field" in response.json()["error"]
    response = client.post("/api/train", json={"scenario": SMALL, "lb": "random"})
    assert response.status_code == 422 and "random" in response.json()["error"]


def test_over_bound_requests_are_refused_before_work(client):
    jobs = client.app.state.jobs
    misses = jobs.misses
    big = {"cluster": {"gpus": 65536}, "workload": {"train": {"communication": "flow"}}}
    cases = [
        ("/api/run", {"scenario": big}, "flow_gpus"),
        ("/api/train", {"scenario": {"cluster": {"gpus": 65536}}, "communication": "flow"}, "flow_gpus"),
        ("/api/infer", {"scenario": {"cluster": {"gpus": 65536}}}, "flow_gpus"),
        ("/api/infer", {"scenario": {"cluster": {"gpus": 4096}}, "prefill_gpus": 32, "decode_gpus": 2048},
         "pairwise_flows"),
        ("/api/reliability", {"scenario": SMALL, "runs": 6000}, "monte_carlo_runs"),
        ("/api/reliability", {"scenario": {"cluster": {"gpus": 65536}}, "runs": 5000, "days": 365},
         "monte_carlo_events"),
    ]
    for path, body, limit in cases:
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json().get("limit") == limit and f"limit {limit}" in response.json()["error"], response.text
    assert jobs.misses == misses  # no job was started


def test_default_monte_carlo_runs_are_lowered_to_fit_with_a_note(client):
    body = {"scenario": {"cluster": {"gpus": 65536}, "reliability": {"days": 365}}, "compare_optics": False}
    response = client.post("/api/reliability", json=body)
    assert response.status_code == 200
    doc = response.json()
    per_run = 365 * 86400 / doc["mtbi_s"]
    fitted = int(LIMITS.monte_carlo_events // (per_run + 365 * scenario_from_dict(body["scenario"]).reliability
                                                .planned_per_day))
    assert f"Monte Carlo of {fitted:,} runs instead of the default 1,000" in doc["notes"][-1]


def test_auto_communication_above_the_flow_limit_is_analytic_with_a_note(client):
    response = client.post("/api/train", json={"scenario": {"cluster": {"gpus": 65536}}})
    assert response.status_code == 200
    doc = response.json()
    assert doc["communication"] == "analytic" and "over this server's flow-level limit of 32,768" in doc["notes"][-1]


def test_server_files_are_not_read(client):
    for body in ({"scenario": {"catalog_files": ["/etc/passwd"]}}, {"set": ["catalog_files=[/etc/passwd]"]}):
        response = client.post("/api/plan", json=body)
        assert response.status_code == 422 and response.json()["error"].startswith("catalog_files:")


def test_oversized_body_is_refused(client):
    response = client.post("/api/plan", json={"scenario": {"name": "x" * (LIMITS.body_bytes + 10)}})
    assert response.status_code == 413 and response.json()["limit"] == "body_bytes"


def test_yaml_download_is_a_scenario_fabricsim_run_reads(client, tmp_path):
    scenario = {"cluster": {"gpus": 4096, "gpu": "b200"}, "fabric": {"switch": "tomahawk6", "transport": "roce",
                                                                    "optics": "lpo", "planes": 2}}
    response = client.post("/api/yaml", json={"scenario": scenario})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    path = tmp_path / "s.yaml"
    path.write_text(response.text)
    assert yaml.safe_load(response.text) == scenario
    assert load_scenario(path) == scenario_from_dict(scenario)


def test_catalog_routes_match_the_cli(client):
    assert client.get("/api/catalog/switches/tomahawk6").json() == cli_json("catalog", "show", "switches",
                                                                            "tomahawk6", "--json")
    assert client.get("/api/catalog/gpus").json() == cli_json("catalog", "list", "gpus", "--json")
    response = client.get("/api/catalog/switchez")
    assert response.status_code == 422 and response.json()["error"] == cli_error("catalog", "list", "switchez")


def test_page_and_offline_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    for control in ('id="gpus"', 'id="gpu"', 'id="scale_up"', 'id="switch"', 'id="planes"', 'id="oversub"',
                    'id="optics"', 'id="transport"', 'id="lb"', 'id="model"', 'id="download"'):
        assert control in page.text
    assert "/vendor/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    plotly = client.get("/vendor/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000 and b"plotly.js" in plotly.content[:500]
    assert client.get("/static/app.js").status_code == 200
    options = client.get("/api/options").json()
    assert "tomahawk6" in [s["name"] for s in options["switches"]] and options["limits"]["flow_gpus"] == 32768


def test_plans_keep_answering_while_a_long_run_runs(client):
    """A run of 32,768 GPUs (about a second, long lane) and plan requests sent while it runs: every plan
    is answered before the run finishes."""
    finished = {}

    def run():
        response = client.post("/api/run", json={"scenario": {"cluster": {"gpus": 32768}}})
        finished["run"] = (time.perf_counter(), response.status_code)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)
    plan_times = []
    for gpus in (1024, 1280, 1536, 1792, 2048):
        response = client.post("/api/plan", json={"scenario": {"cluster": {"gpus": gpus}}, "count_only": True})
        assert response.status_code == 200 and response.json()["plan"]["gpus"] == gpus
        plan_times.append(time.perf_counter())
    thread.join()
    assert finished["run"][1] == 200
    assert max(plan_times) < finished["run"][0]


def test_concurrent_identical_requests_share_one_job(client):
    jobs = client.app.state.jobs
    misses = jobs.misses
    body = {"scenario": {"cluster": {"gpus": 2048}}, "lb": "ecmp"}
    results = [None] * 4

    def post(i):
        results[i] = client.post("/api/train", json=body)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results)
    assert all(r.json() == results[0].json() for r in results)
    assert jobs.misses == misses + 1
    assert sorted(r.headers["x-fabricsim-cache"] for r in results).count("miss") == 1


@pytest.mark.parametrize("path, options, command", [
    ("/api/train", {"tp": 8, "pp": 8, "gbs": 1024}, ["train", "--tp", "8", "--pp", "8", "--gbs", "1024"]),
    ("/api/infer", {"decode_gpus": 32}, ["infer", "--decode-gpus", "32"]),
])
def test_workload_endpoints_are_the_cli_documents(client, path, options, command):
    response = client.post(path, json={"scenario": SMALL, **options})
    assert response.status_code == 200, response.text
    assert response.json() == cli_json(*command, "--set", "cluster.gpus=1024", "--json")


def test_collective_is_the_cli_document_and_bounded(client):
    body = {"scenario": SMALL, "op": "all_reduce", "lb": "ecmp", "sizes": "1MiB:64MiB"}
    response = client.post("/api/collective", json=body)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc == cli_json("collective", "--set", "cluster.gpus=1024", "--lb", "ecmp", "--sizes", "1MiB:64MiB",
                           "--json")
    assert [r["size_bytes"] for r in doc["results"]] == [2**20 * 2**i for i in range(7)]
    over = [({"sizes": ",".join(str(n) for n in range(1, 66))}, "sweep_sizes"), ({"scenario": {"cluster": {"gpus": 65536}}}, "flow_gpus"),
            ({"op": "all_to_all", "ranks": 1025}, "pairwise_flows")]
    for options, limit in over:
        response = client.post("/api/collective", json={"scenario": SMALL, **options})
        assert response.status_code == 422 and response.json().get("limit") == limit, response.text
    analytic = client.post("/api/collective", json={"scenario": {"cluster": {"gpus": 65536}}, "method": "analytic"})
    assert analytic.status_code == 200 and "lost_capacity" not in analytic.json()
    response = client.post("/api/collective", json={"scenario": SMALL, "op": "all_gossip"})
    assert response.status_code == 422 and response.json()["error"] == cli_error("collective", "--op", "all_gossip")


def test_collective_nccl_tests_options_are_the_clis(client):
    """in_place, min_channels and gpus_per_thread (nccl-tests -g) reach the sweep as the CLI's flags do."""
    body = {"scenario": SMALL, "ranks": 8, "sizes": "1KiB,1GiB", "in_place": True, "min_channels": 16,
            "gpus_per_thread": 8, "evidence": False}
    response = client.post("/api/collective", json=body)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc == cli_json("collective", "--set", "cluster.gpus=1024", "--ranks", "8", "--sizes", "1KiB,1GiB",
                           "--in-place", "--min-channels", "16", "--gpus-per-thread", "8", "--no-evidence", "--json")
    assert doc["gpus_per_thread"] == 8 and [r["host_bound"] for r in doc["results"]] == [True, False]
    bad = client.post("/api/collective", json={**body, "gpus_per_thread": 9})
    assert bad.status_code == 422 and "between 1 GPU and all 8 ranks" in bad.json()["error"]


TORUS = {"cluster": {"gpu": "tpu-v4", "gpus": 64},
         "fabric": {"topology": "torus", "torus": {"dims": [4, 4, 4], "ocs": "palomar-136"}}}


def test_torus_scenarios_get_the_cli_torus_documents(client):
    # plan and collective on a torus answer as the CLI does (not as a fat-tree of the same chips)
    plan = client.post("/api/plan", json={"scenario": TORUS})
    assert plan.status_code == 200, plan.text
    torus_set = ["--set", "cluster.gpu=tpu-v4", "--set", "cluster.gpus=64", "--set", "fabric.topology=torus",
                 "--set", "fabric.torus.dims=[4,4,4]", "--set", "fabric.torus.ocs=palomar-136"]
    assert plan.json() == cli_json("plan", *torus_set, "--json")
    assert "torus_plan" in plan.json() and "plan" not in plan.json()
    collective = client.post("/api/collective", json={"scenario": TORUS, "sizes": "1MiB", "method": "analytic"})
    assert collective.status_code == 200, collective.text
    assert collective.json() == cli_json("collective", *torus_set, "--sizes", "1MiB", "--method", "analytic", "--json")
    assert collective.json()["placement"] == "torus 4x4x4"
