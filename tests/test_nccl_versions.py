"""NCCL releases as catalog entries (collective_libraries nccl-2.18 ... nccl-2.29, nccl = v2.30.7).

Hand values are read from each tag's src/graph/tuning.cc (NVIDIA/nccl), microseconds and GB/s there:
the rule or constant that moved between releases gives a different figure for the same call."""

import re

import numpy as np
import pytest
import yaml

from fabricsim.catalog import load_catalog
from fabricsim.catalog.library_schema import CollectiveLibrary
from fabricsim.catalog.loader import default_catalog
from fabricsim.collectives.nccl_model import latency_s, transfer_s, tuner_transfer_s
from fabricsim.collectives.timing import candidates, communicator, library
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.validation.cases import load_cases

MiB = 2**20
US = 1e-6


def setup(cluster: dict, lib: str, ranks, fabric: dict | None = None):
    scenario = scenario_from_dict({"cluster": cluster, "fabric": {"collective_library": lib, **(fabric or {})}})
    design = fabric_from_scenario(scenario).design
    return library(design), communicator(design, np.asarray(ranks))


A100 = {"gpu": "a100-sxm", "gpus": 8}
H100_2 = {"gpu": "h100-sxm", "gpus": 16}
H100_4 = {"gpu": "h100-sxm", "gpus": 32}
GB200_1440 = {"gpu": "gb200", "gpus": 1440, "scale_up": "gb200-nvl72", "gpus_per_server": 4}


def ring_bus_bandwidth(lib, comm, op, protocol, size):
    """Bus bandwidth (bytes/s) of NCCL's predicted ring transfer, from the tuner's graph bandwidth."""
    simple = tuner_transfer_s(comm, op, "ring", size, 0.0)
    factor = 2 * (comm.ranks - 1) / comm.ranks if op == "all_reduce" else (comm.ranks - 1) / comm.ranks
    return size * factor / transfer_s(lib, comm, op, "ring", protocol, size, simple)


@pytest.mark.parametrize("lib, op, busbw", [
    ("nccl-2.18", "all_reduce", 240e9 / 4),  # v2.18.5: min(llMaxBw 87.7, 240 x 1/4)
    ("nccl-2.20", "all_reduce", 240e9 / 4),  # v2.20.5: same rule
    ("nccl-2.18", "all_gather", 240e9 / 3),  # v2.18.5: one-node AllGather x 1/3
    ("nccl-2.21", "all_reduce", 87.7e9),  # v2.21.5: min(87.7, 240 x .5)
    ("nccl", "all_gather", 87.7e9),  # v2.30.7
])
def test_ring_ll_bus_bandwidth_on_8_a100_follows_each_release(lib, op, busbw):
    library_, comm = setup(A100, lib, range(8))
    assert comm.graph_channels * comm.ring_speed_bytes_per_s / 2 == 240e9  # 12 channels x 20 GB/s
    assert ring_bus_bandwidth(library_, comm, op, "ll", 64 * MiB) == pytest.approx(busbw, rel=1e-9)
    assert latency_s(library_, comm, "all_reduce", "ring", "ll", 1 * MiB) == pytest.approx((6.6 + 14 * 0.6) * US)


@pytest.mark.parametrize("lib, cluster, latency_us", [
    ("nccl-2.21", H100_2, 25 + 2 * 14),  # v2.21.5: intraLat NVLink 25 + 2 log2i(2) x NET NVLSTree 14
    ("nccl-2.26", H100_2, 25 + 2 * 14),
    ("nccl", H100_2, 25 + 2 * 20.9),  # v2.30.7: NET NVLSTree 20.9
    ("nccl-2.21", H100_4, 25 + 2 * 2 * 14),
    ("nccl-2.18", H100_2, 23 + 2 * 1 * 19),  # v2.18.5: base 23, no NVLink step, 2 (nNodes - 1) x 19
    ("nccl-2.18", H100_4, 23 + 2 * 3 * 19),
])
def test_nvls_tree_latency_of_each_release(lib, cluster, latency_us):
    library_, comm = setup(cluster, lib, range(cluster["gpus"]))
    assert comm.nvls
    assert latency_s(library_, comm, "all_reduce", "nvls_tree", "simple", 8) == pytest.approx(latency_us * US)


@pytest.mark.parametrize("lib, latency_us", [
    ("nccl-2.18", 23.0),  # v2.18.5: baseLat NVLS 23, NVLink NVLS 0
    ("nccl-2.19", 23.0),  # v2.19.3: baseLat 0, NVLink NVLS 23
    ("nccl-2.21", 25.0),
    ("nccl", 25.0),
])
def test_single_node_nvls_latency_of_each_release(lib, latency_us):
    library_, comm = setup({"gpu": "h100-sxm", "gpus": 8}, lib, range(8))
    assert latency_s(library_, comm, "all_reduce", "nvls", "simple", 8) == pytest.approx(latency_us * US)


@pytest.mark.parametrize("lib, latency_us", [
    # 2 x 8 H100, Simple, 30 steps: v2.18.5-v2.22.3 charge 2 nNodes = 4 network steps, v2.23 on 2 (nNodes - 1) = 2;
    # intra steps cost max(NVLink ring Simple 3.4, net overhead 1 x 3)
    ("nccl-2.21", 8.4 + 26 * 3.4 + 4 * 14.0),
    ("nccl-2.25", 8.4 + 28 * 3.4 + 2 * 14.0),
    ("nccl", 8.4 + 28 * 3.4 + 2 * 14.0),
])
def test_ring_all_reduce_network_steps_of_each_release(lib, latency_us):
    library_, comm = setup(H100_2, lib, range(16))
    assert latency_s(library_, comm, "all_reduce", "ring", "simple", 8) == pytest.approx(latency_us * US)


@pytest.mark.parametrize("lib, latency_us", [
    ("nccl", 6.6 + 2 * 5.0),  # v2.30.7: ppn 1 takes the tree's network LL latency (5.0), 2 network steps
    ("nccl-2.21", 6.6 - 2 * 1.0 + 4 * 2.7),  # v2.21.5: ring's own (2.7), 2 nNodes = 4 network steps of 2 in all
])
def test_one_rank_per_node_ring_latency_of_each_release(lib, latency_us):
    library_, comm = setup(H100_2, lib, [0, 8])  # GPU 0 of each server
    assert (comm.nodes, comm.ranks) == (2, 2)
    assert latency_s(library_, comm, "all_reduce", "ring", "ll", 8) == pytest.approx(latency_us * US)


def test_ll128_with_one_rank_per_node_before_2_23():
    lib21, comm = setup(H100_2, "nccl-2.21", [0, 8])
    lib25, _ = setup(H100_2, "nccl-2.25", [0, 8])
    ratio = ring_bus_bandwidth(lib21, comm, "all_reduce", "ll128", 64 * MiB) / ring_bus_bandwidth(
        lib25, comm, "all_reduce", "ll128", 64 * MiB)
    assert ratio == pytest.approx(0.7 / 0.92)  # tuning.cc v2.21.5: ppn < 2 ? 0.7 : 0.92


def test_ll128_across_grace_nics_arrives_in_2_27():
    """v2.26.2: the GPU-C2C-CPU-PCIe-NIC path is PHB, LL128 needs <= PXN; v2.27 names it P2C (< PXN)."""
    for lib, has_ll128 in (("nccl-2.26", False), ("nccl-2.27", True), ("nccl", True)):
        _, comm = setup(GB200_1440, lib, range(144), {"transport": "infiniband"})
        assert comm.nodes == 2
        assert ("ll128" in comm.protocols) is has_ll128, lib
    _, one_rack = setup(GB200_1440, "nccl-2.26", range(72))
    assert "ll128" in one_rack.protocols  # one NVLink domain: no network path


def test_ll128_on_blackwell_arrives_in_2_25():
    """tuning.cc before v2.25 enables LL128 by default on compute capability 7.0, 8.0 and 9.0 only."""
    for lib, has_ll128 in (("nccl-2.21", False), ("nccl-2.25", True)):
        _, comm = setup({"gpu": "b200", "gpus": 8}, lib, range(8))
        assert ("ll128" in comm.protocols) is has_ll128, lib
    _, hopper = setup({"gpu": "h100-sxm", "gpus": 8}, "nccl-2.18", range(8))
    assert "ll128" in hopper.protocols


def test_reduce_scatter_and_all_gather_algorithms_of_each_release():
    lib18, comm = setup({"gpu": "h100-sxm", "gpus": 8}, "nccl-2.18", range(8))
    lib19, _ = setup({"gpu": "h100-sxm", "gpus": 8}, "nccl-2.19", range(8))
    assert candidates("all_gather", "auto", comm, lib18) == ("ring",)  # v2.18.5: ring only
    assert candidates("all_gather", "auto", comm, lib19) == ("ring", "nvls")  # NVLS from v2.19
    assert "nvls" in candidates("all_reduce", "auto", comm, lib18)
    with pytest.raises(FabricsimError, match=r"nccl-2\.18 \(version 2\.18\.5\) does not run all_gather with nvls"):
        candidates("all_gather", "nvls", comm, lib18)


def test_pat_arrives_in_2_23():
    lib21, comm = setup(H100_2, "nccl-2.21", [0, 8])
    lib25, _ = setup(H100_2, "nccl-2.25", [0, 8])
    assert "pat" not in candidates("reduce_scatter", "auto", comm, lib21)
    assert "pat" in candidates("reduce_scatter", "auto", comm, lib25)


def test_unmeasured_blackwell_tree_row_steers_the_choice_and_the_measured_row_runs():
    """v2.26.2's Blackwell perChMaxTreeBws >2 nodes is Hopper's doubled (2 x 36.0 = 72 GB/s, not measured);
    v2.28 measured 24 GB/s. The tuner predicts with 72, the kernels run at 24 per search channel."""
    lib, comm = setup(GB200_1440, "nccl-2.26", range(1440), {"transport": "infiniband"})
    assert (comm.nodes, comm.rings, comm.ring_speed_bytes_per_s, comm.graph_channels) == (20, 15, 48e9, 15)
    size = 4 * 2**30  # past the tree correction table
    predicted = transfer_s(lib, comm, "all_reduce", "tree", "simple", size, 1e-12)
    executed = transfer_s(lib, comm, "all_reduce", "tree", "simple", size, 1e-12, executed=True)
    assert predicted == pytest.approx(size / (0.5 * 15 * 72e9))
    assert executed == pytest.approx(size / (0.5 * 15 * 24e9))


def test_nvls_tree_ceiling_absent_before_2_28_only_in_the_prediction():
    lib, comm = setup(H100_2, "nccl-2.26", range(16))
    size = 8 * 2**30
    fast = 1e-12  # a transfer the ceiling must bound
    assert transfer_s(lib, comm, "all_reduce", "nvls_tree", "simple", size, fast) == pytest.approx(fast)
    executed = transfer_s(lib, comm, "all_reduce", "nvls_tree", "simple", size, fast, executed=True)
    assert executed == pytest.approx(size / (8 * 57.7e9 * 16 / 30))  # 8 heads x perChMaxNVLSTreeBw Hopper N2


# ------------------------------------------------------------------------------------------- the catalog


def test_default_entry_behaves_as_before_the_release_fields():
    """The v2.30.7 entry states the release fields explicitly; they equal the schema's defaults, which
    are the rules fabricsim applied before releases were entries -- so no default result moves."""
    nccl = default_catalog().get("collective_libraries", "nccl")
    for field in ("ring_ll_bandwidth_fraction", "ring_ll_single_node_bandwidth_fraction",
                  "ring_ll128_single_rank_per_node_fraction", "ring_all_reduce_inter_steps", "nvls_tree_network_steps",
                  "tree_network_latency_at_one_rank_per_node", "ll128_nics_on_cpu", "ll128_architectures",
                  "tuner_algorithms", "tuner_ceilings"):
        assert field in nccl.model_fields_set, field
        default = CollectiveLibrary.model_fields[field].get_default(call_default_factory=True)
        assert getattr(nccl, field) == default, field
    assert nccl.ring_ll_bandwidth_fraction == nccl.ll_bandwidth_fraction
    assert nccl.extends is None and nccl.version == "2.30.7"


def test_default_entry_is_the_yaml_as_written():
    """Resolving the older releases (deep merges of their parents) leaves the parent as its YAML says."""
    from importlib import resources

    raw = yaml.safe_load(resources.files("fabricsim.catalog").joinpath("data/collective_libraries.yaml").read_text())
    written = CollectiveLibrary.model_validate({**raw["collective_libraries"]["nccl"], "name": "nccl"})
    assert default_catalog().get("collective_libraries", "nccl") == written


def test_releases_inherit_and_cite():
    cat = default_catalog()
    lib = cat.get("collective_libraries", "nccl-2.18")
    assert lib.extends == "nccl-2.19" and lib.version == "2.18.5"
    assert lib.max_threads == {"ll": 512, "ll128": 640, "simple": 512}  # inherited through the chain
    assert lib.source_of("max_threads").startswith("unchanged from nccl-2.19 < nccl-2.20 < ")
    assert lib.source_of("max_threads").endswith(cat.get("collective_libraries", "nccl").sources["max_threads"])
    assert "v2.18.5" in lib.source_of("collnet_arity_latency_s")
    assert lib.hardware_latency_s["net"]["ring"] == {"ll": 2.7e-6, "ll128": 4.0e-6, "simple": 14.0e-6}
    assert lib.hardware_latency_s["net"]["nvls_tree"]["simple"] == 19.0e-6
    assert lib.source_of("launch_overhead_s").startswith("FITTED on nccl-ar-8xgb200-mnnvl-nvls-oci-8b")


def write(tmp_path, text):
    path = tmp_path / "cat.yaml"
    path.write_text(text)
    return path


def test_user_entry_extends_a_built_in_one(tmp_path):
    path = write(tmp_path, """
collective_libraries:
  my-nccl:
    extends: nccl
    version: "2.30.7-site"
    source: "site measurement of the launch overhead"
    sources: {launch_overhead_s: "our 8-byte all-reduce, 2026"}
    hardware_latency_s: {net: {ring: {simple: 15.0e-6}}}
    launch_overhead_s: 9.0e-6
""")
    with pytest.raises(FabricsimError, match="changes hardware_latency_s of nccl without citing it"):
        load_catalog([path])
    path = write(tmp_path, path.read_text().replace('sources: {', 'sources: {hardware_latency_s: "ours", '))
    lib = load_catalog([path]).get("collective_libraries", "my-nccl")
    assert lib.launch_overhead_s == 9.0e-6 and "launch_overhead_s" not in lib.fitted_on  # overridden: no longer fitted
    assert lib.fitted_on == {"executed_ring_ll128_fraction": ["nccl-ar-azure-nd-a100-v4-16mib"],  # inherited
                             "per_channel_simple_copy_bytes_per_s": ["nccl-ag-1x2xb200-nvlink5-gke-dranet-inplace-4gib",
                                                                     "nccl-ag-1x2xb200-nvlink5-gke-dranet-inplace-8gib"],
                             "per_channel_p2p_copy_bytes_per_s": ["nccl-a2a-4xgb300-tray-oci-16gib"],
                             "host_call_s": ["nccl-ar-azure-nd-a100-v4-64kib"]}
    assert lib.hardware_latency_s["net"]["ring"] == {"ll": 2.7e-6, "ll128": 4.0e-6, "simple": 15.0e-6}
    assert lib.hardware_latency_s["nvlink"] == default_catalog().get("collective_libraries", "nccl").hardware_latency_s["nvlink"]


@pytest.mark.parametrize("text, message", [
    ("collective_libraries:\n  x:\n    extends: nope\n    version: '1'\n    source: 'somewhere'\n",
     "the parent must be an entry of collective_libraries defined before this one"),
    ("collective_libraries:\n  x:\n    extends: nccl\n    source: 'somewhere'\n", "states its own 'version'"),
    ("gpus:\n  x:\n    extends: h100-sxm\n    source: 'somewhere'\n", "only entries of collective_libraries or models or software may extend"),
])
def test_bad_extends_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(FabricsimError, match=re.escape(message)):
        load_catalog([write(tmp_path, text)])


# ------------------------------------------------------------------------------------ validation cases


RELEASES = {"nccl-2.18": ("2.18",), "nccl-2.19": ("2.19",), "nccl-2.20": ("2.20",), "nccl-2.21": ("2.21", "2.22"),
            "nccl-2.25": ("2.25",), "nccl-2.26": ("2.26",), "nccl-2.27": ("2.27",), "nccl-2.29": ("2.29",),
            "nccl": ("2.30",)}


def test_every_pinned_case_names_its_release():
    """A case points at a release entry only where its own text states that NCCL version."""
    pinned = 0
    for case in load_cases("collectives"):
        lib = (case.setup.scenario or {}).get("fabric", {}).get("collective_library")
        if lib is None:
            continue
        pinned += 1
        text = " ".join(str(getattr(case, k, "") or "") for k in ("what", "source", "note"))
        stated = set(re.findall(r"(?:NCCL|nccl)[ -]?v?(2\.\d+)", text))
        assert stated & set(RELEASES[lib]), f"{case.id}: runs {lib}, text states NCCL {sorted(stated)}"
    assert pinned >= 90
