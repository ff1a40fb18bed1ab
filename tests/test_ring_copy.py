"""The copy bound of a Simple ring's channels (collectives/ring_copy.py, nccl_model.copy_bound_s): hand counts
of the bytes a CTA loads and stores per byte sent (NVIDIA/nccl v2.26.6 src/device), and the 2-B200 all-gather it
explains (kubernetes-sigs/dranet nvidia-dranet.md, NCCL 2.26.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabricsim.catalog import load_catalog
from fabricsim.collectives.api import run_collective
from fabricsim.collectives.nccl_model import call_time_s, copy_bound_s
from fabricsim.collectives.ring_copy import copy_ceiling_bytes_per_s, copy_cost
from fabricsim.collectives.timing import communicator, library
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario

GiB = 2**30
RATE = 72.68e9  # collective_libraries nccl per_channel_simple_copy_bytes_per_s.blackwell (fitted)


def _fabric(gpu: str, gpus: int, release: str = "nccl-2.26"):
    return fabric_from_scenario(scenario_from_dict(
        {"cluster": {"gpu": gpu, "gpus": gpus}, "fabric": {"collective_library": release}}))


@pytest.fixture(scope="module")
def b200x2():
    return _fabric("b200", 2)


@pytest.mark.parametrize("op, ranks, in_place, cost", [
    # all_gather.h: send 2 (or copySend 3) + (n-2) recvCopySend 3 + recv 2, over n-1 chunks sent
    ("all_gather", 2, True, 4.0), ("all_gather", 2, False, 5.0),
    ("all_gather", 8, True, 22 / 7), ("all_gather", 8, False, 23 / 7),
    # all_reduce.h: 2 + 3(n-2) + 4 + 3(n-2) + 2 over 2(n-1) chunks; in place or not alike
    ("all_reduce", 2, False, 8 / 2), ("all_reduce", 8, True, 44 / 14),
    # reduce_scatter.h: 2 + 3(n-2) + 3 over n-1
    ("reduce_scatter", 2, False, 5.0), ("reduce_scatter", 4, False, 11 / 3),
    # broadcast.h: the slowest rank's step per chunk
    ("broadcast", 2, True, 2.0), ("broadcast", 2, False, 3.0), ("broadcast", 4, True, 3.0),
    ("all_gather", 1, False, 0.0),
])
def test_copy_cost_is_the_hand_count(op, ranks, in_place, cost):
    assert copy_cost(op, ranks, in_place) == pytest.approx(cost, rel=1e-12)


@given(st.integers(2, 4096))
def test_copy_cost_bounds(n):
    """Out of place costs one store more per loop; every op lies between 3 (long rings) and 5 (2 ranks)."""
    assert copy_cost("all_gather", n, False) - copy_cost("all_gather", n, True) == pytest.approx(1 / (n - 1))
    for op in ("all_gather", "all_reduce", "reduce_scatter"):
        for in_place in (True, False):
            assert 3.0 - 1e-12 <= copy_cost(op, n, in_place) <= 5.0 + 1e-12
    assert copy_cost("all_reduce", n) <= copy_cost("all_reduce", 2)


def test_copy_cost_rejects_bad_input():
    with pytest.raises(FabricsimError, match="all_to_all"):
        copy_cost("all_to_all", 4)
    with pytest.raises(FabricsimError, match="ranks=0"):
        copy_cost("all_gather", 0)
    assert copy_ceiling_bytes_per_s("all_gather", 1, 32, RATE) == float("inf")


def test_two_b200_all_gather_is_bound_by_its_channels_copies(b200x2):
    """32 channels x 72.68 GB/s / 5 = 465.1 GB/s out of place, / 4 = 581.4 GB/s in place (the 8 GiB busbw is
    that cap behind NCCL's latency: 8 GiB / 2 / cap + latency); NVLink5 alone would give ~714 GB/s."""
    lib, comm = library(b200x2.design), communicator(b200x2.design, np.arange(2))
    assert comm.channels == 32 and lib.per_channel_simple_copy_bytes_per_s["blackwell"] == RATE
    for in_place, cost, published in ((False, 5, 482.71e9), (True, 4, 564.14e9)):
        result = run_collective(b200x2, "all_gather", "auto", [8 * GiB], in_place=in_place).results[0]
        assert (result.algorithm, result.protocol) == ("ring", "simple")
        cap = 32 * RATE / cost
        hand = 4 * GiB / (4 * GiB / cap + result.latency_s)
        assert result.busbw_bytes_per_s == pytest.approx(hand, rel=1e-9)
        assert result.busbw_bytes_per_s == pytest.approx(published, rel=0.05)  # dranet row, 8 GiB
        assert result.copy_bound  # the report says the channels, not the links, set the rate


def test_the_bound_has_no_fill_and_the_tuner_does_not_see_it(b200x2):
    """copy_bound_s = size x (n-1)/n / cap (no fill); predicted times (tuner) are those without the rate."""
    lib, comm = library(b200x2.design), communicator(b200x2.design, np.arange(2))
    assert copy_bound_s(lib, comm, "all_gather", "ring", "simple", GiB) == pytest.approx(
        GiB / 2 / (32 * RATE / 5), rel=1e-12)
    assert copy_bound_s(lib, comm, "all_gather", "ring", "ll128", GiB) == 0.0
    assert copy_bound_s(lib, comm, "all_gather", "nvls", "simple", GiB) == 0.0
    bare = lib.model_copy(update={"per_channel_simple_copy_bytes_per_s": {}})
    link_s = 1e-3  # any Simple transfer time shorter than the bound
    assert call_time_s(lib, comm, "all_gather", "ring", "simple", GiB, link_s) == \
        call_time_s(bare, comm, "all_gather", "ring", "simple", GiB, link_s)
    assert call_time_s(lib, comm, "all_gather", "ring", "simple", GiB, link_s, executed=True) > \
        call_time_s(bare, comm, "all_gather", "ring", "simple", GiB, link_s, executed=True)


@pytest.mark.parametrize("gpu, gpus, op", [("b200", 8, "all_reduce"), ("h100-sxm", 2, "all_reduce"),
                                           ("h100-sxm", 2, "all_gather")])
def test_link_bound_rings_do_not_move(gpu, gpus, op):
    """8 B200 all-reduce: cap 32 x 72.68 / (44/14) = 740 GB/s, above NVLink5's ~722; Hopper has no fitted rate."""
    fab = _fabric(gpu, gpus)
    lib = library(fab.design)
    comm = communicator(fab.design, np.arange(gpus))
    result = run_collective(fab, op, "ring", [8 * GiB]).results[0]
    bare = lib.model_copy(update={"per_channel_simple_copy_bytes_per_s": {}})
    assert copy_bound_s(bare, comm, op, "ring", "simple", 8 * GiB) == 0.0
    bound = copy_bound_s(lib, comm, op, "ring", "simple", 8 * GiB)
    assert bound < result.time_s - result.latency_s  # the link, with its fill, takes longer
    assert not result.copy_bound


def test_the_rate_is_checked(tmp_path):
    path = tmp_path / "lib.yaml"
    path.write_text("""collective_libraries:
  my-nccl:
    extends: nccl
    version: "2.30.7-site"
    source: "site"
    sources: {per_channel_simple_copy_bytes_per_s: "ours"}
    per_channel_simple_copy_bytes_per_s: {hopper: -1.0}
""")
    with pytest.raises(FabricsimError, match="per_channel_simple_copy_bytes_per_s"):
        load_catalog([path])
    path.write_text(path.read_text().replace("{hopper: -1.0}", "{kepler: 5.0e+10}"))
    with pytest.raises(FabricsimError, match="kepler"):
        load_catalog([path])


def test_cli_in_place_flag(tmp_path):
    """fabricsim collective --in-place: 2 B200 all-gather at 8 GiB, 464 GB/s out of place, 580 in place."""
    import json

    from typer.testing import CliRunner

    from fabricsim.cli import app

    path = tmp_path / "b200x2.yaml"
    path.write_text("cluster: {gpu: b200, gpus: 2}\nfabric: {collective_library: nccl-2.26}\n")
    busbw = {}
    for flag in ((), ("--in-place",)):
        out = CliRunner().invoke(app, ["collective", str(path), "--op", "all_gather", "--sizes", "8GiB", "--json", *flag])
        assert out.exit_code == 0, out.output
        busbw[bool(flag)] = json.loads(out.output)["results"][0]["busbw_bytes_per_s"]
    assert busbw[False] == pytest.approx(464.2e9, rel=2e-3) and busbw[True] == pytest.approx(580.0e9, rel=2e-3)


def test_no_nvls_with_two_gpus_in_a_node(b200x2):
    """NCCL nvls.cc:157 (v2.26.6): NVLS init returns with gpuCount <= 2; 4 B200 may use it."""
    assert not communicator(b200x2.design, np.arange(2)).nvls
    assert communicator(_fabric("b200", 4).design, np.arange(4)).nvls
    with pytest.raises(FabricsimError, match="more than 2 GPUs per node"):
        run_collective(b200x2, "all_reduce", "nvls", [GiB])
