"""Users extend and override the built-in catalog with their own files."""

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.plan import plan_scenario
from fabricsim.scenario import scenario_from_dict

USER_FILE = """
switches:
  my-radix-256:
    asic: hypothetical 102.4T, 256 x 400G
    capacity_bits_per_s: 1.024e+14
    serdes_lanes: 512
    lane_bits_per_s: 2.0e+11
    port_configs: [{bits_per_s: 4.0e+11, count: 256}]
    protocols: [roce]
    power_w: 2500
    price_usd: 60000
    rack_units: 4
    latency_s: 8.0e-7
    source: "ASSUMPTION: a what-if part for this test"
media:
  dsp-400g:
    kind: dsp
    family: dsp
    bits_per_s: 4.0e+11
    reach_m: 500
    power_w: 8.0
    price_usd: 111
    per_end: true
    connection_points: 6
    source: "user price list 2026"
"""


def test_user_file_adds_a_switch_and_overrides_a_module(tmp_path):
    path = tmp_path / "parts.yaml"
    path.write_text(USER_FILE)
    scenario = scenario_from_dict({"catalog_files": [str(path)], "cluster": {"gpus": 32768},
                                   "fabric": {"switch": "my-radix-256", "transport": "roce"}})
    plan = plan_scenario(scenario, materialise=False)
    assert plan.radix == 256 and plan.tiers == 2  # 256 x 128 = 32,768 endpoints in two tiers
    dsp = [m for m in plan.media_lines if m.name == "dsp-400g"]
    assert dsp and all(m.price_usd == pytest.approx(m.units * 111) for m in dsp)


def test_user_file_with_a_typo_names_the_entry_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(USER_FILE.replace("reach_m: 500", "reach: 500"))
    with pytest.raises(FabricsimError, match=r"media\.dsp-400g\.reach.*unknown field"):
        scenario_from_dict({"catalog_files": [str(path)]})
