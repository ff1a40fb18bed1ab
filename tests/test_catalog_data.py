"""Checks of the built-in hardware catalog data (src/fabricsim/catalog/data/*.yaml).

These tests pin the figures that other parts of fabricsim rely on and the internal consistency of
the catalog: every required entry exists, every figure has a citation, port configurations fit the
switch capacity, cross-references between sections resolve, and the seed figures are respected.
"""

from __future__ import annotations

import math
from importlib import resources

import pytest
import yaml

from fabricsim.catalog import load_catalog
from fabricsim.catalog.kinds import KINDS
from fabricsim.catalog.schema import Gpu, Medium, ScaleUpSystem, Switch

REQUIRED = {
    "gpus": ["a100-sxm", "h100-sxm", "h200-sxm", "b200", "gb200", "gb300", "rubin"],
    "scale_up": [
        "hgx-a100-8",
        "hgx-h100-8",
        "hgx-b200-8",
        "gb200-nvl72",
        "gb300-nvl72",
        "vr-nvl144",
        "nvl576",
        "ualink-1024",
    ],
    "switches": [
        "quantum-2",
        "quantum-x800",
        "spectrum-4",
        "tomahawk5",
        "tomahawk6",
        "tomahawk6-cpo",
        "quantum-x800-cpo",
        "spectrum-x-photonics",
    ],
    "nics": ["connectx-7", "connectx-8", "connectx-9"],
    "media": [
        "dac-400g",
        "dac-800g",
        "dac-1.6t",
        "aec-800g",
        "aec-1.6t",
        "aoc-400g",
        "aoc-800g",
        "dsp-400g",
        "dsp-800g",
        "dsp-1.6t",
        "lpo-800g",
        "lpo-1.6t",
        "lro-800g",
        "lro-1.6t",
        "cpo-800g",
        "cpo-1.6t",
        "xpo-800g",
        "xpo-1.6t",
        "ocs-port",
    ],
}

# Copper media whose lanes run at 200 Gb/s (the schema has no lane-rate field, so they are named here).
COPPER_200G_PER_LANE = ["dac-1.6t"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _all_entries(catalog):
    for section, entries in catalog.sections.items():
        for name, entry in entries.items():
            yield section, name, entry


# ------------------------------------------------------------------ presence and citations


@pytest.mark.parametrize(
    "section,name", [(section, name) for section, names in REQUIRED.items() for name in names]
)
def test_required_entry_loads(catalog, section, name):
    entry = catalog.get(section, name)
    assert entry.name == name
    assert isinstance(entry, KINDS[section])


def test_every_section_has_entries(catalog):
    for section in REQUIRED:
        assert catalog.names(section), f"section {section} is empty"


def test_every_entry_has_a_source(catalog):
    for section, name, entry in _all_entries(catalog):
        assert entry.source.strip(), f"{section}.{name} has an empty source"
        assert len(entry.source.strip()) >= 10, f"{section}.{name}: source too short to be a citation"
        for field, citation in entry.sources.items():
            assert citation.strip(), f"{section}.{name}: empty citation for {field}"
        for field, reason in entry.assumptions.items():
            assert reason.strip(), f"{section}.{name}: assumption on {field} has no reason"


def test_assumptions_and_sources_name_real_fields(catalog):
    # The schema validator enforces this at load time; check it again on the loaded entries.
    for section, name, entry in _all_entries(catalog):
        fields = set(type(entry).model_fields)
        for field in list(entry.sources) + list(entry.assumptions):
            assert field in fields, f"{section}.{name}: {field!r} is not a field of {type(entry).__name__}"


def test_field_is_not_both_cited_and_assumed(catalog):
    for section, name, entry in _all_entries(catalog):
        both = set(entry.sources) & set(entry.assumptions)
        assert not both, f"{section}.{name}: {sorted(both)} both cited and labelled assumption"


def test_source_of_labels_assumptions(catalog):
    a100 = catalog.gpu("a100-sxm")
    assert a100.source_of("fp8_dense_flops").startswith("ASSUMPTION:")
    assert "seed 001" in a100.source_of("scale_up_bits_per_s")


def test_unknown_assumption_field_is_rejected():
    with pytest.raises(Exception):
        Medium.model_validate(
            {
                "name": "bad",
                "kind": "dsp",
                "family": "dsp",
                "bits_per_s": 8e11,
                "reach_m": 500,
                "power_w": 15,
                "price_usd": 400,
                "per_end": True,
                "connection_points": 6,
                "source": "test",
                "assumptions": {"lanes": "not a field"},
            }
        )


def _all_numbers(value) -> bool:
    """A number, or a table (mapping / list) of numbers."""
    if isinstance(value, dict):
        return all(_all_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_numbers(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_yaml_numbers_are_numbers():
    """PyYAML reads '3.6e12' (no exponent sign) as a string; data files must use '3.6e+12'."""
    data_dir = resources.files("fabricsim.catalog").joinpath("data")
    for item in data_dir.iterdir():
        if not item.name.endswith(".yaml"):
            continue
        raw = yaml.safe_load(item.read_text(encoding="utf-8"))
        for section, entries in raw.items():
            for name, fields in entries.items():
                for key, value in fields.items():
                    if key == "price_range_usd":
                        assert all(isinstance(v, (int, float)) for bounds in value.values() for v in bounds), (
                            f"{item.name}: {section}.{name}.price_range_usd = {value!r} has a non-number"
                        )
                        continue
                    if key.endswith(("_w", "_usd", "_s", "_m", "_bytes", "_flops", "_per_m")) or key in (
                        "matmul_efficiency",
                        "fit_per_end",
                    ):
                        assert _all_numbers(value), (
                            f"{item.name}: {section}.{name}.{key} = {value!r} is not a number"
                        )


# ------------------------------------------------------------------ switches


def test_port_configs_fit_capacity(catalog):
    for name, sw in catalog.sections["switches"].items():
        assert isinstance(sw, Switch)
        for pc in sw.port_configs:
            total = pc.bits_per_s * pc.count
            assert total <= sw.capacity_bits_per_s * (1 + 1e-9), (
                f"{name}: {pc.count} x {pc.bits_per_s:g} = {total:g} > capacity {sw.capacity_bits_per_s:g}"
            )


def test_full_capacity_port_configs(catalog):
    """Every listed config of these switches uses all of the switching capacity."""
    for name, sw in catalog.sections["switches"].items():
        for pc in sw.port_configs:
            assert math.isclose(pc.bits_per_s * pc.count, sw.capacity_bits_per_s, rel_tol=1e-9), (
                f"{name}: {pc.count} x {pc.bits_per_s:g} does not use the full capacity"
            )


def test_serdes_match_capacity(catalog):
    for name, sw in catalog.sections["switches"].items():
        assert math.isclose(sw.serdes_lanes * sw.lane_bits_per_s, sw.capacity_bits_per_s, rel_tol=1e-9), name


def test_tomahawk6_configs(catalog):
    th6 = catalog.switch("tomahawk6")
    assert th6.capacity_bits_per_s == 102.4e12
    assert th6.radix(200e9) * 200e9 == 102.4e12
    assert th6.radix(200e9) == 512
    assert th6.radix(100e9) == 1024
    assert th6.radix(1.6e12) == 64
    assert th6.radix(800e9) == 128
    assert th6.radix(400e9) == 256


def test_quantum2_radix(catalog):
    q2 = catalog.switch("quantum-2")
    assert q2.radix(400e9) == 64
    assert q2.radix(200e9) == 128
    assert q2.radix(800e9) == 0
    assert q2.in_network_reduction


def test_quantum_x800_and_spectrum4(catalog):
    assert catalog.switch("quantum-x800").radix(800e9) == 144
    sp4 = catalog.switch("spectrum-4")
    assert (sp4.radix(800e9), sp4.radix(400e9), sp4.radix(200e9)) == (64, 128, 256)
    th5 = catalog.switch("tomahawk5")
    assert th5.capacity_bits_per_s == 51.2e12


def test_cpo_switches_flagged(catalog):
    for name in ("tomahawk6-cpo", "quantum-x800-cpo", "spectrum-x-photonics"):
        sw = catalog.switch(name)
        assert sw.co_packaged_optics, name
        # optics power is in media cpo-*, so the description must say the box figure excludes it
        assert "EXCLUDES" in sw.description, name
    for name in ("quantum-2", "quantum-x800", "spectrum-4", "tomahawk5", "tomahawk6"):
        assert not catalog.switch(name).co_packaged_optics, name


# ------------------------------------------------------------------ GPUs and cross-references


def test_gpu_references_resolve(catalog):
    for name, gpu in catalog.sections["gpus"].items():
        assert isinstance(gpu, Gpu)
        assert gpu.default_nic in catalog.sections["nics"], f"{name}: unknown NIC {gpu.default_nic}"
        assert gpu.default_scale_up in catalog.sections["scale_up"], (
            f"{name}: unknown scale-up system {gpu.default_scale_up}"
        )


def test_gpu_nic_bandwidth_is_whole_adapters(catalog):
    """scale_out_bits_per_s must be an integer number of default NICs (Rubin: 2 x ConnectX-9)."""
    for name, gpu in catalog.sections["gpus"].items():
        nic = catalog.nic(gpu.default_nic)
        per_nic = nic.ports * nic.port_bits_per_s
        ratio = gpu.scale_out_bits_per_s / per_nic
        assert ratio >= 1 and math.isclose(ratio, round(ratio)), f"{name}: {ratio} NICs per GPU"
    rubin = catalog.gpu("rubin")
    assert rubin.scale_out_bits_per_s == 1.6e12
    assert catalog.nic(rubin.default_nic).port_bits_per_s == 800e9


def test_gpu_figures_are_dense_and_per_direction(catalog):
    h100 = catalog.gpu("h100-sxm")
    assert h100.bf16_dense_flops == pytest.approx(989e12, rel=0.01)  # dense, not the 1979 sparse figure
    assert h100.fp8_dense_flops == pytest.approx(2 * h100.bf16_dense_flops, rel=0.01)
    assert h100.scale_up_bits_per_s == 3.6e12  # 900 GB/s bidirectional = 450 GB/s per direction
    assert catalog.gpu("gb200").scale_up_bits_per_s == 7.2e12  # seed 002
    assert catalog.gpu("a100-sxm").scale_up_bits_per_s == 2.4e12  # 600 GB/s bidirectional
    assert catalog.gpu("rubin").scale_up_bits_per_s == 2 * catalog.gpu("gb200").scale_up_bits_per_s
    assert catalog.gpu("h100-sxm").scale_out_bits_per_s == 400e9
    assert catalog.gpu("gb300").scale_out_bits_per_s == 800e9


def test_streaming_hbm_rates_are_the_measured_triad(catalog):
    """Memory-bound kernels run at BabelStream's triad rate (Azure's benchmarking guide: A100 80GB 1.70,
    H100 2.97, H200 4.18 TB/s), not the datasheet peak; Blackwell's interface peak is the driver's
    7,680-bit bus at 3,996 MHz (7.672 TB/s) times H200's HBM3e triad share."""
    for name, triad in (("a100-sxm", 1.70e12), ("h100-sxm", 2.97e12), ("h200-sxm", 4.18e12)):
        assert catalog.gpu(name).hbm_stream_bytes_per_s == pytest.approx(triad, rel=2e-4), name
    b200 = catalog.gpu("b200").hbm_stream_bytes_per_s
    assert b200 == pytest.approx(7680 / 8 * 3996e6 * 2 * 4.18 / 4.8, rel=2e-4)
    for name, gpu in catalog.sections["gpus"].items():
        assert 0.8 < gpu.hbm_stream_efficiency < 0.9, name  # every measured share sits in 83-89 %


def test_gpu_generations_are_ordered(catalog):
    order = ["a100-sxm", "h100-sxm", "b200", "gb300", "rubin"]
    bf16 = [catalog.gpu(n).bf16_dense_flops for n in order]
    assert bf16 == sorted(bf16)
    for name, gpu in catalog.sections["gpus"].items():
        assert 0.5 < gpu.matmul_efficiency < 0.95, name
        assert gpu.server_overhead_power_w < gpu.power_w, name
        if gpu.vendor == "NVIDIA":  # TPU-class chips draw ~200 W (Cloud TPU v4: 192 W max)
            assert gpu.power_w >= 300, name


def test_dgx_h100_power_budget(catalog):
    """GPU + overhead + NIC stays within the 10.2 kW DGX H100 max (NVSwitch power in scale_up)."""
    gpu = catalog.gpu("h100-sxm")
    nic = catalog.nic(gpu.default_nic)
    hgx = catalog.scale_up("hgx-h100-8")
    total = 8 * (gpu.power_w + gpu.server_overhead_power_w + nic.power_w) + hgx.switch_chips * hgx.switch_chip_power_w
    assert 9000 < total <= 10200


# ------------------------------------------------------------------ scale-up


def test_gb200_nvl72(catalog):
    nvl = catalog.scale_up("gb200-nvl72")
    assert isinstance(nvl, ScaleUpSystem)
    assert nvl.gpus == 72
    assert nvl.switch_chips == 18
    assert nvl.copper_cables == 5182
    assert nvl.gpus_per_rack == 72
    assert nvl.protocol == "nvlink"


def test_scale_up_domains(catalog):
    assert catalog.scale_up("hgx-h100-8").gpus == 8
    assert catalog.scale_up("ualink-1024").gpus == 1024
    assert catalog.scale_up("ualink-1024").protocol == "ualink"
    # package counts: NVL144 = 72 packages x 2 dies, NVL576 = 144 packages x 4 dies
    assert catalog.scale_up("vr-nvl144").gpus == 72
    assert catalog.scale_up("nvl576").gpus == 144
    for name, su in catalog.sections["scale_up"].items():
        # a rack holds whole domains, or a domain spans whole racks
        assert su.gpus_per_rack % su.gpus == 0 or su.gpus % su.gpus_per_rack == 0, name
        assert su.link_latency_s < 1e-6, name


# ------------------------------------------------------------------ media


def test_optics_energy_per_bit(catalog):
    dsp = catalog.medium("dsp-800g")
    lpo = catalog.medium("lpo-800g")
    cpo = catalog.medium("cpo-800g")
    assert 15 <= dsp.pj_per_bit <= 25
    assert lpo.pj_per_bit <= 0.7 * dsp.pj_per_bit
    assert cpo.pj_per_bit <= 7.5
    assert catalog.medium("cpo-1.6t").pj_per_bit <= 7.5
    assert catalog.medium("dsp-1.6t").power_w == 30  # seed 001
    assert catalog.medium("lro-800g").pj_per_bit < dsp.pj_per_bit
    assert catalog.medium("lro-800g").pj_per_bit > lpo.pj_per_bit


def test_copper_reach(catalog):
    for name in COPPER_200G_PER_LANE:
        assert catalog.medium(name).reach_m <= 2.0, name
    for name, m in catalog.sections["media"].items():
        if m.family == "copper":
            assert m.reach_m <= 3.0, name
            assert m.kind == "dac"


def test_connection_points(catalog):
    assert catalog.medium("dsp-800g").connection_points == 6
    assert catalog.medium("cpo-800g").connection_points == 1
    assert catalog.medium("dac-800g").connection_points == 2


def test_media_kinds_families_and_ends(catalog):
    families = {
        "dac": "copper",
        "aec": "aec",
        "aoc": "aoc",
        "dsp": "dsp",
        "lpo": "lpo",
        "lro": "lro",
        "cpo": "cpo",
        "xpo": "xpo",
        "ocs": "ocs",
    }
    for name, m in catalog.sections["media"].items():
        assert m.family == families[m.kind], name
        assert m.per_end == (m.kind in ("dsp", "lpo", "lro", "cpo", "xpo", "ocs")), name
        if m.per_end and m.kind != "ocs":
            assert m.fiber_price_usd_per_m > 0, name
        assert m.fit_per_end > 0, name


def test_pluggable_price_is_half_dollar_per_gbps(catalog):
    """Seed 004: pluggables ~$0.5/Gb/s today, read per module (per end)."""
    for name in ("dsp-400g", "dsp-800g", "dsp-1.6t"):
        m = catalog.medium(name)
        assert m.price_usd / (m.bits_per_s / 1e9) == pytest.approx(0.5), name


def test_ocs_port_is_low_power(catalog):
    ocs = catalog.medium("ocs-port")
    assert ocs.power_w * 136 == pytest.approx(100, rel=0.01)  # seed 001: ~100 W per OCS
    assert ocs.power_w < catalog.medium("cpo-800g").power_w
