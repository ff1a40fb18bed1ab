"""Failure model: per-unit rates from censuses, a per-job term, modules as bought, blast radius."""

from __future__ import annotations

import math

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.plan import plan_scenario
from fabricsim.reliability import (
    CLASSES,
    LLAMA3_COUNTS,
    ComponentCounts,
    counts_for_gpu_cluster,
    failure_rates,
    interruptions_per_day,
    mean_time_between_interruptions,
)
from fabricsim.reliability.from_plan import assess, counts_from_plan, network_stops
from fabricsim.reliability.rates import LLAMA3_HOURS, fat_tree_tiers
from fabricsim.scenario import scenario_from_dict

# Llama 3 405B, Table 5 (arXiv 2407.21783): per-row interruption counts, 54 days, 16,384 H100s.
TABLE5 = {
    "Faulty GPU": 148, "GPU HBM3 Memory": 72, "Software Bug": 54, "Network Switch/Cable": 35,
    "Host Maintenance": 32, "GPU SRAM Memory": 19, "GPU System Processor": 17, "NIC": 7,
    "NCCL Watchdog Timeouts": 7, "Silent Data Corruption": 6, "GPU Thermal Interface + Sensor": 6,
    "SSD": 3, "Power Supply": 3, "Server Chassis": 2, "IO Expansion Board": 2, "Dependency": 2,
    "CPU": 2, "System Memory": 2,
}
HARDWARE_CLASSES = {"gpu": 148 - 15 + 19 + 17 + 6 + 6, "hbm": 72, "scale_up": 15, "host": 46, "nic": 7}


def test_table5_counts_sum_to_419_and_the_gpu_rows_map_onto_classes():
    assert sum(TABLE5.values()) == 419
    gpu_rows = ["Faulty GPU", "GPU HBM3 Memory", "GPU SRAM Memory", "GPU System Processor",
                "Silent Data Corruption", "GPU Thermal Interface + Sensor"]
    assert HARDWARE_CLASSES["gpu"] + HARDWARE_CLASSES["hbm"] + HARDWARE_CLASSES["scale_up"] == sum(
        TABLE5[r] for r in gpu_rows)
    assert abs(148 / 419 - 0.301) > 0.05  # the printed 30.1 % does not match its count


def test_census_rates_reproduce_the_hardware_rows_on_the_census_units():
    expected = {c: r * LLAMA3_HOURS for c, r in failure_rates(LLAMA3_COUNTS).items()}
    for c, n in HARDWARE_CLASSES.items():
        assert expected[c] == pytest.approx(n, abs=1e-9), c
    # the network row: switches at Microsoft's field rate + modules + cables = 35
    network = sum(expected[c] for c in ("switch", "nic_optics", "transceiver", "cpo_engine", "cable"))
    assert network == pytest.approx(35, rel=0.01)
    # switches alone: 2 % of switches fail in 3 months (Singh et al.) x 1,136 census switches x 1,296 h
    assert expected["switch"] == pytest.approx(0.02 * 1136 * 1296 / 2191.5, rel=1e-9)


def test_per_job_term_does_not_grow_with_size():
    small, big = counts_for_gpu_cluster(1024), counts_for_gpu_cluster(131_072)
    assert failure_rates(small)["job"] == failure_rates(big)["job"] > 0
    assert failure_rates(big)["gpu"] == pytest.approx(128 * failure_rates(small)["gpu"])
    # the job term dominates a 1,024-GPU job, hardware a 131,072-GPU one
    rs, rb = failure_rates(small), failure_rates(big)
    assert rs["job"] > sum(v for c, v in rs.items() if c != "job")
    assert rb["job"] < 0.1 * sum(v for c, v in rb.items() if c != "job")


def test_1024_and_16384_gpu_jobs_both_near_their_published_mttfs():
    """One parameter set: RSC 1,024-GPU jobs fail every 7.9 h, the Llama 3 16K job every 3.1 h."""
    rsc = scenario_from_dict({"cluster": {"gpu": "a100-sxm", "gpus": 1024}, "fabric": {"switch": "quantum-hdr"},
                              "layout": {"spine_to_core_m": 100}})
    mttf_1k = assess(plan_scenario(rsc, materialise=False), rsc, monte_carlo=False).mtbi_s / 3600
    llama = scenario_from_dict({"cluster": {"gpus": 16384, "nic": "connectx-7"},
                                "fabric": {"switch": "minipack2", "switches": {"spine": "arista-7816r3",
                                                                              "core": "arista-7816r3"},
                                           "tiers": 3, "rail_optimized": False, "downlinks": [16, 192],
                                           "oversubscription": [1, 7], "transport": "roce"},
                                "layout": {"gpus_per_rack": 16, "host_to_leaf_m": 2, "leaf_to_spine_m": 100}})
    mttf_16k = assess(plan_scenario(llama, materialise=False), llama, monte_carlo=False).mtbi_s / 3600
    assert mttf_1k == pytest.approx(7.9, rel=0.1)
    assert mttf_16k == pytest.approx(1296 / 419, rel=0.2)


def test_mtbi_100k_gpus_is_about_30_minutes():
    """Seed 001: ~30 min at 100,000 GPUs with the Llama 3 per-GPU rate - computed from counts."""
    mtbi_min = mean_time_between_interruptions(counts_for_gpu_cluster(100_000)) / 60
    assert 25 <= mtbi_min <= 40


def test_million_gpus_hundreds_of_interruptions_per_day():
    per_day = interruptions_per_day(counts_for_gpu_cluster(1_000_000))
    assert 300 <= per_day <= 800


def test_interruptions_grow_with_cluster_size():
    sizes = [1024, 8192, 16_384, 65_536, 131_072, 1_000_000]
    per_day = [interruptions_per_day(counts_for_gpu_cluster(n)) for n in sizes]
    assert all(a < b for a, b in zip(per_day, per_day[1:]))


def test_media_fail_in_proportion_to_their_fit_relative_to_the_reference_module():
    catalog = default_catalog()

    def counts(medium, n=1000):
        return ComponentCounts(gpus=0, hosts=0, nics=0, switches=0, scale_up_switch_chips=0, jobs=0,
                               switch_optics={medium: n})
    ref = failure_rates(counts("dsp-400g"))["transceiver"]
    lpo = failure_rates(counts("lpo-800g"))["transceiver"]
    assert lpo == pytest.approx(ref * catalog.medium("lpo-800g").fit_per_end / catalog.medium("dsp-400g").fit_per_end)
    assert failure_rates(counts("dsp-400g", 2000))["transceiver"] == pytest.approx(2 * ref)


def test_twin_port_modules_halve_the_failure_points_of_per_link_counting():
    """A 4-plane 200G fabric counted per lane group had 4x the optical failure points of one 800G plane;
    counted as bought (one 800G module per NIC port, one 1.6T module per 8 switch ports) it does not."""
    base = {"cluster": {"gpu": "gb300", "gpus": 8192}, "fabric": {"switch": "tomahawk6", "transport": "roce"}}
    one = scenario_from_dict(base)
    four = scenario_from_dict({**base, "fabric": {**base["fabric"], "planes": 4}})
    rate = {}
    for name, s in (("one", one), ("four", four)):
        r = assess(plan_scenario(s, materialise=False), s, monte_carlo=False).interruptions_per_hour_by_class
        rate[name] = r["nic_optics"] + r["transceiver"]
    assert rate["four"] < 1.5 * rate["one"]


def test_planes_turn_switch_side_failures_into_degradation_but_a_shared_nic_module_still_stops():
    twin = scenario_from_dict({"cluster": {"gpu": "gb300", "scale_up": "hgx-b300-8", "gpus": 512},
                               "fabric": {"switch": "spectrum-4", "transport": "spectrum-x", "planes": 2}})
    stops = network_stops(plan_scenario(twin), twin.reliability)
    assert stops["switch"] is False and stops["transceiver"] is False and stops["cable"] is False
    assert stops["nic_optics"] is True  # one 800G module carries both planes of its GPU
    single = scenario_from_dict({"cluster": {"gpus": 512}})
    assert all(network_stops(plan_scenario(single), single.reliability).values())
    forced = scenario_from_dict({"cluster": {"gpus": 512}, "reliability": {"network_failures_stop_job": False}})
    assert not any(network_stops(plan_scenario(forced), forced.reliability).values())


def test_counts_follow_the_plan_modules():
    s = scenario_from_dict({"cluster": {"gpus": 256}})
    plan = plan_scenario(s)
    counts = counts_from_plan(plan, s)
    assert sum(counts.nic_optics.values()) == 256  # one single-port module per NIC
    assert sum(counts.switch_optics.values()) == 128 + 256  # twin-port leaf modules + leaf-spine modules
    assert counts.switches == 12 and counts.jobs == 1


def test_rate_override_and_stops_job_override():
    base = mean_time_between_interruptions(LLAMA3_COUNTS)
    doubled = mean_time_between_interruptions(LLAMA3_COUNTS, rates={"gpu": 2 * 181 / (16_384 * 1296)})
    assert doubled < base
    network = ("switch", "nic_optics", "transceiver", "cpo_engine", "cable")
    rates = failure_rates(LLAMA3_COUNTS)
    rerouted = mean_time_between_interruptions(LLAMA3_COUNTS, stops_job={c: False for c in network})
    assert rerouted / 3600 == pytest.approx(1 / sum(v for c, v in rates.items() if c not in network))


def test_fat_tree_tiers():
    assert fat_tree_tiers(64, 64) == 1
    assert fat_tree_tiers(2048, 64) == 2
    assert fat_tree_tiers(65_536, 64) == 3
    assert fat_tree_tiers(65_537, 64) == 4
    assert fat_tree_tiers(100_000, 128) == 3


def test_every_class_has_a_cited_census():
    entries = default_catalog().sections["failures"]
    for c in CLASSES:
        assert entries[c].source_of("census_count")
        assert entries[c].rate_per_unit_hour > 0
    assert math.isclose(entries["job"].rate_per_unit_hour * 1296, entries["job"].census_count)
