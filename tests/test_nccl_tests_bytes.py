"""The bytes nccl-tests reports for a requested size (NVIDIA/nccl-tests src/*.cu *GetCollByteCount, float elements),
from which fabricsim's algbw and busbw are computed as nccl-tests computes them: hand counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabricsim.collectives.algorithms import nccl_tests_bytes
from fabricsim.collectives.api import run_collective
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario


@pytest.mark.parametrize("op, size, ranks, reported", [
    ("all_reduce", 8, 16384, 8),  # the whole request: no split per rank
    ("all_reduce", 10, 8, 8),  # whole float elements
    ("broadcast", 1024, 64, 1024),
    ("send_recv", 4096, 2, 4096),
    ("reduce_scatter", 1024, 8, 1024),  # 256 floats / 8 = 32 per rank, a multiple of 4
    ("reduce_scatter", 1024, 128, 0),  # 2 floats per rank < 16 bytes: nccl-tests prints size 0
    ("all_gather", 1000, 8, 896),  # 250 floats / 8 = 31 -> 28 per rank
    ("all_to_all", 64, 8, 0),  # 16 floats / 8 = 2 -> 0 (the size-0 rows of small alltoall_perf runs)
    ("all_to_all", 16 * 2**30, 128, 16 * 2**30),
])
def test_hand_counts(op, size, ranks, reported):
    assert nccl_tests_bytes(op, size, ranks) == reported


@given(op=st.sampled_from(["all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "send_recv"]),
       size=st.integers(0, 2**40), ranks=st.integers(1, 2**17))
def test_never_more_than_asked_and_whole_blocks(op, size, ranks):
    reported = nccl_tests_bytes(op, size, ranks)
    assert 0 <= reported <= size and reported % 4 == 0
    if op in ("reduce_scatter", "all_gather", "all_to_all"):
        assert reported % (16 * ranks) == 0 and size - reported < 16 * ranks + 4


def test_a_tiny_all_reduce_on_many_ranks_reports_its_own_bytes():
    """8 B across 16,384 ranks: algbw is 8 B over the call's time (it was the 64 KiB the call is timed on)."""
    fabric = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 16384}}))
    r = run_collective(fabric, "all_reduce", sizes=[8], method="analytic").results[0]
    assert r.padded_bytes == 16384 * 4
    assert r.algbw_bytes_per_s == pytest.approx(8 / r.time_s)
    assert r.busbw_bytes_per_s == pytest.approx(8 / r.time_s * 2 * 16383 / 16384)
