"""The explorer in a real browser: `fabricsim serve` on a free loopback port, Debian's Chromium driven by
Playwright (never downloaded: the binary is /usr/bin/chromium, installed by .ci/run), the GPU slider moved
and the cards checked against the API's answers."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fabricsim.scenario import load_scenario

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    port = free_port()
    command = Path(sys.executable).parent / "fabricsim"
    process = subprocess.Popen([str(command), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/api/health", timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    pytest.fail("fabricsim serve exited: " + process.stdout.read().decode())
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def card(page, name: str) -> tuple[str, str]:
    element = page.locator(f"#card-{name}")
    return element.get_attribute("data-value"), element.locator(".v").inner_text()


def test_slider_moves_the_cards_to_the_api_values(server, tmp_path):
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
            page.set_default_timeout(30_000)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(server + "/?gpus=2048")
            page.wait_for_function("document.querySelector('#card-switches').dataset.value")
            before = card(page, "switches")[0]

            slider = page.locator("#gpus")
            slider.focus()
            for _ in range(4):  # four steps per octave: 2,048 -> 4,096 GPUs
                page.keyboard.press("ArrowRight")
            page.wait_for_function("document.querySelector('#gpus-out').textContent === '4,096'")
            page.wait_for_function(f"document.querySelector('#card-switches').dataset.value !== '{before}'"
                                   " && !document.querySelector('#fabric-group').classList.contains('busy')")
            assert "gpus=4096" in page.url

            scenario = page.evaluate("window.explorer.scenario()")
            assert scenario["cluster"]["gpus"] == 4096
            plan = post(server, "/api/plan", {"scenario": scenario, "count_only": True})["plan"]
            switches, switches_text = card(page, "switches")
            assert int(switches) == plan["switches_total"] != int(before)
            assert switches_text == f"{plan['switches_total']:,}"
            power, power_text = card(page, "power")
            assert float(power) == pytest.approx(plan["network_power_share"], rel=1e-12)
            assert power_text == f"{100 * plan['network_power_share']:.1f}%"

            page.wait_for_function("document.querySelector('#card-step').dataset.value"
                                   " && !document.querySelector('#job-group').classList.contains('busy')")
            run = post(server, "/api/run", {"scenario": scenario})
            assert float(card(page, "mtbi")[0]) == pytest.approx(run["reliability"]["mtbi_s"], rel=1e-12)
            assert float(card(page, "step")[0]) == pytest.approx(run["training"]["step_time_s"], rel=1e-12)

            with page.expect_download() as download:
                page.click("#download")
            saved = tmp_path / "scenario.yaml"
            download.value.save_as(saved)
            assert load_scenario(saved).cluster.gpus == 4096

            page.wait_for_function("document.querySelector('#chart-lb .main-svg')")
            page.wait_for_function("!document.querySelector('#evidence-section').hidden")
            nearest = run["evidence"]
            rows = page.locator("#evidence tr")
            assert rows.count() == len(nearest["cases"]) > 0
            assert rows.first.locator("td").first.inner_text() == nearest["cases"][0]["case_id"]
            assert f"{nearest['passed']} of {nearest['count']} within tolerance" in page.inner_text("#evidence-summary")
            shot = tmp_path / "explorer.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000
            if os.environ.get("FABRICSIM_SCREENSHOT"):  # keep the picture to look at
                shot.replace(os.environ["FABRICSIM_SCREENSHOT"])
        finally:
            browser.close()
    assert problems == []
