"""Bad input gets one clear paragraph naming the field, the value and what is valid."""

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.plan import plan_scenario
from fabricsim.scenario import apply_overrides, load_scenario, scenario_from_dict


def error_of(data):
    with pytest.raises(FabricsimError) as info:
        plan_scenario(scenario_from_dict(data))
    return str(info.value)


def test_unknown_gpu_suggests_closest_names():
    message = error_of({"cluster": {"gpu": "h100"}})
    assert "cluster.gpu" in message and "h100-sxm" in message and "Did you mean" in message


def test_unknown_switch_lists_valid_names():
    message = error_of({"fabric": {"switch": "tomahawk7"}})
    assert "tomahawk6" in message and "quantum-2" in message


@pytest.mark.parametrize("count", [0, -5])
def test_non_positive_gpu_count(count):
    message = error_of({"cluster": {"gpus": count}})
    assert "cluster.gpus" in message and "greater than 0" in message


def test_typo_in_field_name_suggests_the_field():
    message = error_of({"fabric": {"oversubscripton": [1, 1]}})
    assert "fabric.oversubscripton" in message and "did you mean 'oversubscription'" in message


def test_radix_too_small_for_requested_tiers():
    message = error_of({"cluster": {"gpus": 4096}, "fabric": {"tiers": 2}})
    assert "fabric.tiers=2 cannot connect 4,096 GPUs with radix 64; maximum is 2,048; use tiers=3" in message


def test_nic_speed_no_switch_port_serves():
    # 1.6 Tb/s per GPU on ConnectX-9 (800G ports) into 400G-only Quantum-2 is served by breakout;
    # a 200G-per-GPU A100 into 800G-only Quantum-X800 is not.
    message = error_of({"cluster": {"gpu": "a100-sxm"}, "fabric": {"switch": "quantum-x800"}})
    assert "no breakout" in message and "quantum-x800" in message


def test_transport_the_switch_does_not_speak():
    message = error_of({"fabric": {"transport": "roce"}})
    assert "fabric.transport=roce" in message and "quantum-2" in message


def test_yaml_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster:\n  gpus: 8\n fabric: [\n")
    with pytest.raises(FabricsimError, match=r"line \d+, column \d+"):
        load_scenario(bad)


def test_set_overrides_any_field_and_parses_values():
    data = apply_overrides({}, ["fabric.optics=cpo", "cluster.gpus=4096", "fabric.oversubscription=[2,1]"])
    scenario = scenario_from_dict(data)
    assert scenario.fabric.optics == "cpo" and scenario.cluster.gpus == 4096
    assert scenario.fabric.oversubscription == [2, 1]
    with pytest.raises(FabricsimError, match="path=value"):
        apply_overrides({}, ["fabric.optics"])


def test_port_speed_accepts_units_and_rejects_garbage():
    assert scenario_from_dict({"fabric": {"port_speed": "400G"}}).fabric.port_speed == 400e9
    assert "fabric.port_speed" in error_of({"fabric": {"port_speed": "fast"}})
