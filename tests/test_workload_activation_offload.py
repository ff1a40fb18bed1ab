"""Activation offloading to host memory (workload.train.activation_offload_layers, Megatron-Core cpu_offloading on
Transformer Engine v2.12's schedule): bytes that leave HBM and seconds the copies expose, counted by hand."""

import pytest
from hypothesis import given, settings, strategies as st

from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.activation_offload import offload_timing, resident_peak

# --- bytes resident in HBM -------------------------------------------------------------------------------


def test_resident_peak_keeps_all_but_the_offloaded_layers():
    """Layer i's copy is released before layer L - k + i runs: with equal layers at most L - k are resident."""
    assert resident_peak([1.0] * 8, 3) == 5.0
    assert resident_peak([1.0] * 8, 0) == 8.0
    # layers of 1, 2, 3, 4 bytes, the first two offloaded: while layer 3 runs, layers 2 and 3 hold 7 bytes
    assert resident_peak([1.0, 2.0, 3.0, 4.0], 2) == 7.0
    # large early layers: layer 0 (10 B) is still resident while layers 1 and 2 run (released before layer 3)
    assert resident_peak([10.0, 1.0, 1.0, 1.0], 1) == 12.0


# --- seconds the copies expose ----------------------------------------------------------------------------


def test_copies_slower_than_the_window_are_exposed():
    """4 layers, 1 s forward and 2 s backward each, 3 bytes saved each, the first 2 offloaded at 1 B/s to the host
    and 1.5 B/s back.  Forward: copy 0 runs 1-4 s, copy 1 4-7 s; layer 2 waits from 2 to 4 s, layer 3 from 5 to
    7 s: 4 s.  Backward: layer 1's reload starts with layer 2's backward (2 s) and ends at 4 s, when layer 1
    starts; layer 0's starts at 4 s and ends at 6 s, when layer 0 starts: nothing exposed."""
    timing = offload_timing([1.0] * 4, [2.0] * 4, [3.0] * 4, 2, 1.5, 1.0)
    assert timing.forward_wait_s == pytest.approx(4.0)
    assert timing.backward_wait_s == pytest.approx(0.0)
    assert timing.copied_bytes == 6.0
    # at 3 B/s to the host each copy takes 1 s and ends as the layer that needs it starts
    assert offload_timing([1.0] * 4, [2.0] * 4, [3.0] * 4, 2, 1.5, 3.0).exposed_s == pytest.approx(0.0)


def test_offloading_all_but_one_layer_hides_nothing():
    """k = L - 1: each layer's copy must finish before the next layer starts and each reload starts with the
    layer's own backward (Transformer Engine warns: no overlap): every copy and reload is exposed."""
    timing = offload_timing([1.0] * 4, [2.0] * 4, [3.0] * 4, 3, 1.5, 1.0)
    assert timing.forward_wait_s == pytest.approx(3 * 3.0)
    assert timing.backward_wait_s == pytest.approx(3 * 2.0)


@settings(max_examples=60, deadline=None)
@given(layers=st.integers(2, 12), data=st.data())
def test_exposed_time_is_between_zero_and_all_copies(layers, data):
    k = data.draw(st.integers(1, layers - 1))
    forward = data.draw(st.lists(st.floats(0.01, 5.0), min_size=layers, max_size=layers))
    backward = data.draw(st.lists(st.floats(0.01, 5.0), min_size=layers, max_size=layers))
    saved = data.draw(st.lists(st.floats(0.01, 5.0), min_size=layers, max_size=layers))
    up, down = data.draw(st.floats(0.1, 10.0)), data.draw(st.floats(0.1, 10.0))
    timing = offload_timing(forward, backward, saved, k, up, down)
    copies = sum(saved[:k]) / down + sum(saved[:k]) / up
    assert -1e-9 <= timing.exposed_s <= copies + 1e-9
    if k == layers - 1:
        assert timing.exposed_s == pytest.approx(copies)


# --- the training step ------------------------------------------------------------------------------------

def _scenario(gpu="b200"):
    return scenario_from_dict({"cluster": {"gpu": gpu, "gpus": 8}})


JOB = dict(model="llama3-8b", tp=1, pp=1, dp=8, global_batch=64, seq=4096, micro_batch=1, precision="bf16",
           recompute="none")
LAYER_BYTES = 139_264 * 4096
"""Llama 3 8B, TP1, BF16, flash attention, no recomputation: 139,264 B per token per layer
(tests/test_workload_recompute_modules.py LLAMA_NONE) x 4,096 tokens of one micro-batch = 570,425,344 B."""


def test_offloaded_layers_leave_hbm_for_the_host():
    none = train(_scenario(), **JOB)
    off = train(_scenario(), **JOB, activation_offload_layers=8)
    assert none.memory.activations == pytest.approx(32 * LAYER_BYTES)
    assert off.memory.activations == pytest.approx(24 * LAYER_BYTES)
    assert off.memory.host_offload == pytest.approx(8 * LAYER_BYTES)
    assert off.memory.total == pytest.approx(none.memory.total - 8 * LAYER_BYTES)


def test_copies_over_pcie_cost_what_the_compute_cannot_hide():
    """B200 over PCIe Gen5 (55 GB/s measured class): one layer's 0.57 GB takes 10.4 ms, far longer than its
    forward, so the copy stream falls behind; the step grows by exactly the exposed waits, which stay below the
    copies' whole time (8 layers x 0.57 GB each way) and above what the forward cannot cover: the last of the 8
    copies ends no sooner than 8 copy times after the start, layer 31 starts after 31 forwards."""
    none = train(_scenario(), **JOB)
    off = train(_scenario(), **JOB, activation_offload_layers=8)
    exposed = off.breakdown_s["exposed activation offload"]
    assert off.step_time_s - none.step_time_s == pytest.approx(exposed, rel=1e-6)
    per_micro = exposed / off.micro_batches
    copy = LAYER_BYTES / 55e9
    forward = (none.stage.forward_s) / 32  # per layer, the head's share included: an upper bound
    assert 8 * copy - 31 * forward < per_micro < 2 * 8 * copy
    assert "offloaded to host memory" in " ".join(off.notes)


@pytest.mark.parametrize("overrides, said", [
    (dict(pp=2, dp=4), ["activation_offload_layers=8", "pp=1", "pp=2"]),
    (dict(activation_offload_layers=32), ["activation_offload_layers=32", "1 to 31", "32 layers"]),
    (dict(recompute="full"), ["activation_offload_layers=8", "recompute='full'", "recomputation"]),
    (dict(recompute="none", recompute_modules=["mlp"]), ["activation_offload_layers=8", "recompute_modules"]),
    (dict(cuda_graphs=True), ["activation_offload_layers=8", "CUDA graphs", "cuda_graphs"]),
    (dict(activation_offload_layers=31, micro_batch=16, global_batch=128, seq=8192),
     ["activation_offload_layers=31", "host memory", "256 GB", "offload fewer layers"]),
])
def test_bad_offloading_is_named(overrides, said):
    job = {**JOB, "activation_offload_layers": 8, **overrides}
    if "recompute_modules" in overrides:
        job.pop("recompute")
    with pytest.raises(FabricsimError) as err:
        train(_scenario(), **job)
    for text in said:
        assert text in str(err.value)


def test_a_gpu_without_a_host_link_figure_is_refused():
    with pytest.raises(FabricsimError) as err:
        train(_scenario("a100-sxm"), **{**JOB, "seq": 2048, "activation_offload_layers": 4})
    assert "a100-sxm" in str(err.value) and "host_link_bytes_per_s" in str(err.value)
