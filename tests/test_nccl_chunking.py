"""NCCL's Simple-protocol ring chunking (enqueue.cc calcCollChunking, device all_reduce.h runRing), the
executed pipeline fill that follows from it, and a tuner that predicts without a fill (tuning.cc
ncclTopoGetAlgoTime: latency + bytes / bandwidth).

By hand: a full ring Simple chunk is ALLREDUCE_CHUNKSTEPS (NCCL_STEPS / 2 = 4) slots of the 4 MiB Simple
buffer split in NCCL_STEPS = 8: 4 x 512 KiB = 2 MiB, in every release 2.18.5 to 2.30.7.  A loop moves
ranks x chunk per channel; a call below one loop runs chunks of size / (channels x ranks)."""

import numpy as np
import pytest

from fabricsim.catalog import default_catalog
from fabricsim.collectives.api import run_collective
from fabricsim.collectives.nccl_model import call_time_s, fill_bytes, latency_s, ring_chunk_bytes, transfer_s
from fabricsim.collectives.timing import communicator, library
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario

MiB = 2**20
GiB = 2**30


def _fabric(gpu: str, gpus: int, release: str | None = None):
    fabric = {"collective_library": release} if release else {}
    return fabric_from_scenario(scenario_from_dict({"cluster": {"gpu": gpu, "gpus": gpus}, "fabric": fabric}))


@pytest.fixture(scope="module")
def a100():
    return _fabric("a100-sxm", 8)


@pytest.mark.parametrize("release", [None, "nccl-2.18"])
@pytest.mark.parametrize("size, chunk", [
    (32 * MiB, 32 * MiB / (24 * 8)),  # 174 762.7 B: one loop of 24 channels x 8 ranks, shrunk
    (128 * MiB, 128 * MiB / (24 * 8)),  # 699 050.7 B
    (384 * MiB, 2 * MiB),  # exactly one full loop: 24 x 8 x 2 MiB
    (1 * GiB, 2 * MiB),  # 3 loops (2 full, the last shrunk); the first chunk is full
])
def test_ring_simple_chunk_on_8_a100_is_nccls(release, size, chunk):
    fab = _fabric("a100-sxm", 8, release)
    lib, comm = library(fab.design), communicator(fab.design, np.arange(8))
    assert lib.buffer_bytes["simple"] / lib.steps * lib.chunk_steps == 2 * MiB
    assert comm.channels == 24
    assert ring_chunk_bytes(lib, comm, size) == pytest.approx(chunk, rel=1e-12)


def test_executed_fill_is_one_real_chunk_per_channel(a100):
    """24 channels x the call's chunk: S / 8 below one loop (16 MiB at 128 MiB), 24 x 2 MiB = 48 MiB from
    384 MiB; NVLS/LL/LL128 unaffected (LL and LL128 have no fill)."""
    lib, comm = library(a100.design), communicator(a100.design, np.arange(8))
    assert fill_bytes(lib, comm, "ring", "simple", 128 * MiB) == pytest.approx(16 * MiB, rel=1e-12)
    assert fill_bytes(lib, comm, "ring", "simple", 32 * MiB) == pytest.approx(4 * MiB, rel=1e-12)
    assert fill_bytes(lib, comm, "ring", "simple", GiB) == pytest.approx(48 * MiB, rel=1e-12)
    assert fill_bytes(lib, comm, "ring", "ll128", GiB) == 0.0


@pytest.mark.parametrize("nodes, levels", [(1, 0), (2, 1), (4, 2), (8, 3), (16, 4)])
def test_nvls_tree_fill_adds_a_chunk_per_tree_level_each_way(nodes, levels):
    """NVLS's own fill is chunk_steps NVLS chunks per channel; across nodes the first chunk also climbs the
    binary tree of nodes (floor(log2 nodes) levels) and comes back down, one chunk per level each way."""
    fab = _fabric("h100-sxm", 8 * nodes)
    lib, comm = library(fab.design), communicator(fab.design, np.arange(8 * nodes))
    assert comm.nodes == nodes
    algorithm = "nvls_tree" if nodes > 1 else "nvls"
    one_node = comm.nvls_channels * lib.chunk_steps * lib.nvls_chunk_bytes
    extra = comm.nvls_channels * 2 * levels * lib.nvls_chunk_bytes
    assert fill_bytes(lib, comm, algorithm, "simple", GiB) == pytest.approx(one_node + extra, rel=1e-12)


def test_the_tuner_predicts_no_fill_and_the_call_runs_one(a100):
    """Predicted = NCCL's latency + launch + bytes / bus bandwidth; executed adds the fill x the rate."""
    lib, comm = library(a100.design), communicator(a100.design, np.arange(8))
    size, simple = 64 * MiB, 64 * MiB * 1.75 / 240e9
    lat = latency_s(lib, comm, "all_reduce", "ring", "simple", size)
    rate = transfer_s(lib, comm, "all_reduce", "ring", "simple", size, simple)
    predicted = call_time_s(lib, comm, "all_reduce", "ring", "simple", size, simple)
    assert predicted == pytest.approx(lat + lib.launch_overhead_s + rate, rel=1e-12)
    executed = call_time_s(lib, comm, "all_reduce", "ring", "simple", size, simple, executed=True)
    assert executed - predicted == pytest.approx(rate / 8, rel=1e-9)  # fill S / 8 at 64 MiB


@pytest.mark.parametrize("size, protocol", [
    (16 * MiB, "ll128"), (32 * MiB, "simple"), (64 * MiB, "simple"), (128 * MiB, "simple"), (GiB, "simple"),
])
def test_fabricsims_pick_on_8_a100_is_ncclss(a100, size, protocol):
    """NCCL's own model (tests/test_nccl_tuner_a100.py): ring LL128 up to 24.3 MB, ring Simple above."""
    result = run_collective(a100, "all_reduce", "auto", [size]).results[0]
    assert (result.algorithm, result.protocol) == ("ring", protocol)



def test_executed_ring_ll128_share_on_ampere_is_the_fitted_one_and_the_tuner_keeps_ncclss(a100):
    lib, comm = library(a100.design), communicator(a100.design, np.arange(8))
    size, simple = 16 * MiB, 16 * MiB * 1.75 / 240e9
    fitted = default_catalog().get("collective_libraries", "nccl").executed_ring_ll128_fraction["ampere"]
    predicted = transfer_s(lib, comm, "all_reduce", "ring", "ll128", size, simple)
    executed = transfer_s(lib, comm, "all_reduce", "ring", "ll128", size, simple, executed=True)
    assert predicted == pytest.approx(simple / 0.92, rel=1e-12)
    assert executed == pytest.approx(simple / fitted, rel=1e-12)
    hopper = _fabric("h100-sxm", 8)
    hlib = library(hopper.design)
    assert "hopper" not in hlib.executed_ring_ll128_fraction
