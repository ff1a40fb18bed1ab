"""Adam's state by precision (fabricsim.workload.optimizer_states): the bytes it holds, the bytes an update
moves, and what that does to a job's memory and optimizer step."""

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.memory import OPTIMIZER_BYTES
from fabricsim.workload.optimizer_states import STATES, optimizer_states

# gpt-oss-120b as NeMo AutoModel ran it (NVIDIA-NeMo/Automodel docs/performance-summary.md): 64 H100, FSDP over 64
# with EP 64, micro-batch 2, no activation checkpointing
AUTOMODEL_GPT_OSS = dict(model="gpt-oss-120b", tp=1, pp=1, dp=64, ep=64, global_batch=512, micro_batch=2, seq=4096,
                         zero=3, recompute="none", moe_dispatcher="deepep", software="torchtitan-2024")
H100_64 = {"cluster": {"gpu": "h100-sxm", "gpus": 64}}


def test_bytes_per_parameter_by_hand():
    """Held: master + two moments; an update reads and writes them, reads the gradient, writes the BF16 weight."""
    fp32, moments, bf16 = (optimizer_states(p) for p in ("fp32", "bf16-moments", "bf16"))
    assert (fp32.held_bytes, moments.held_bytes, bf16.held_bytes) == (12, 8, 4)
    assert OPTIMIZER_BYTES == fp32.held_bytes  # ZeRO's K = 12 stays the default
    assert fp32.update_bytes == 2 * 12 + 4 + 2 == 30
    assert moments.update_bytes == 2 * 8 + 4 + 2 == 22
    assert bf16.update_bytes == 2 * (2 + 2 * 2) + 2 == 14  # the BF16 weight is the master
    # gradients held between backward and the update: the reduce dtype's, or BF16 without a master copy
    assert fp32.held_gradient_bytes(4) == 4 and moments.held_gradient_bytes(2) == 2
    assert bf16.held_gradient_bytes(4) == 2
    assert set(STATES) == {"fp32", "bf16-moments", "bf16"}


def test_memory_and_optimizer_step_follow_the_precision():
    """The same job: optimizer memory 12 : 8 : 4 bytes per held parameter, gradients 4 : 4 : 2, weights and
    activations unchanged; the HBM-bound update takes 30 : 22 : 14 of the FP32 time."""
    scenario = scenario_from_dict(H100_64)
    job = dict(AUTOMODEL_GPT_OSS, recompute="full")  # fits in every precision
    results = {p: train(scenario, optimizer_states=p, **job) for p in ("fp32", "bf16-moments", "bf16")}
    fp32 = results["fp32"]
    for precision, result in results.items():
        states = optimizer_states(precision)
        assert result.memory.optimizer == pytest.approx(fp32.memory.optimizer * states.held_bytes / 12, rel=1e-12)
        assert result.memory.gradients == pytest.approx(fp32.memory.gradients * states.held_gradient_bytes(4) / 4,
                                                        rel=1e-12)
        assert result.memory.weights == fp32.memory.weights
        assert result.memory.activations == fp32.memory.activations
        assert result.breakdown_s["optimizer"] == pytest.approx(
            fp32.breakdown_s["optimizer"] * states.update_bytes / 30, rel=1e-12)
    assert any("no master copy" in note for note in results["bf16"].notes)
    assert not any(note.startswith("optimizer:") for note in fp32.notes)


def test_a_pure_bf16_job_fits_where_fp32_states_do_not():
    """AutoModel's layout without recomputation: FP32 states overflow the 80 GB (by ~3 GB), and the error names
    BF16 moments as a fix; BF16 weights updated in place with BF16 moments fit."""
    scenario = scenario_from_dict(H100_64)
    with pytest.raises(FabricsimError, match=r"needs 8\d\.\d GB.*optimizer_states=bf16-moments \(\d+ GB\)"):
        train(scenario, optimizer_states="fp32", **AUTOMODEL_GPT_OSS)
    result = train(scenario, optimizer_states="bf16", **AUTOMODEL_GPT_OSS)
    assert result.memory.recompute == "none"
    assert result.memory.total < 80e9


def test_profile_default_and_bad_value():
    """deepseek-v3-2024 keeps DeepSeek-V3's BF16 moments (report section 3.3) unless the job says otherwise; an
    unknown precision is refused with the field named."""
    scenario = scenario_from_dict({"cluster": {"gpu": "h800-sxm", "gpus": 512}})
    job = dict(model="deepseek-v3", tp=1, pp=16, dp=32, ep=32, global_batch=512, micro_batch=1, seq=4096,
               software="deepseek-v3-2024", recompute="full", communication="analytic")
    default = train(scenario, **job)
    assert any("FP32 master copy and BF16 moments" in note for note in default.notes)
    explicit = train(scenario, optimizer_states="bf16-moments", **job)
    assert explicit.memory.optimizer == default.memory.optimizer
    assert train(scenario, optimizer_states="fp32", **job).memory.optimizer == pytest.approx(
        default.memory.optimizer * 12 / 8, rel=1e-12)
    with pytest.raises(FabricsimError, match="optimizer_states"):
        scenario_from_dict({**H100_64, "workload": {"train": {"optimizer_states": "fp16"}}})
