"""Training step: hand-computed pieces, schedule arithmetic, fabric what-ifs, published MFU, bad input."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.errors import FabricsimError
from pathlib import Path

from fabricsim.scenario import load_scenario, scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload import train
from fabricsim.workload.compute import Shape, stage_compute
from fabricsim.workload.gemm import gemm_seconds, rates_for
from fabricsim.workload.memory import OPTIMIZER_BYTES
from fabricsim.workload.model import parameter_counts


@pytest.fixture(scope="module")
def small():
    """8 servers of 8 H100 = 64 GPUs (one leaf per rail)."""
    scenario = scenario_from_dict({"cluster": {"gpus": 64}})
    return scenario, fabric_from_scenario(scenario)


def test_compute_time_is_the_sum_of_its_kernels(small):
    """One micro-batch of Llama 3 8B through all 32 layers on one GPU, kernel by kernel by hand."""
    scenario, fabric = small
    gpu, model = fabric.design.gpu, scenario.catalog().get("models", "llama3-8b")
    profile = scenario.catalog().get("software", "megatron-core-2025")
    result = train(scenario, fabric, model="llama3-8b", tp=8, pp=1, cp=1, dp=8, global_batch=8, seq=4096,
                   recompute="none")
    shape = Shape(4096, 4096, 1, 8, True, "bf16")
    stage = stage_compute(model, gpu, shape, profile, 32, 0, True, "none")
    rates = rates_for(gpu, "bf16")
    tokens, tp, h, f = 4096, 8, 4096, 14336
    shapes = [(tokens, (32 + 16) * 128 / tp, h), (tokens, h, 32 * 128 / tp), (tokens, 2 * f / tp, h),
              (tokens, h, f / tp)]
    per_layer = sum(float(gemm_seconds(m, n, k, rates)) for m, n, k in shapes)
    head = float(gemm_seconds(tokens, model.vocab_size / tp, h, rates))
    attention = 2 * 4096 * 32 * (128 + 128) / 2 * tokens / tp  # causal half of QK^T and AV, one layer
    length = 4096 / (4096 + gpu.attention_half_sequence_tokens["native"])  # the kernel's length curve (cuDNN)
    flash = attention / (gpu.bf16_dense_flops * gpu.attention_efficiency["native"] * length
                         * gpu.sustained_compute_ratio)
    elementwise = (2 * 4 * h + 2 * 6 * h) * tokens / tp + 4 * (32 + 8) * 128 * tokens / tp + 6 * f * tokens / tp
    loss = 12 * tokens * model.vocab_size / tp
    launches = (4 + 5 + 1 + 1) * 32 + 4  # GEMMs, norms, adds, activation, rope, attention; head
    forward = 32 * (per_layer + flash) + head + (32 * elementwise + loss) / gpu.hbm_stream_bytes_per_s \
        + launches * profile.kernel_overhead_s
    assert stage.forward_s == pytest.approx(forward, rel=1e-9)
    assert result.stage.forward_s == pytest.approx(forward, rel=1e-9)
    assert stage.attention_s == pytest.approx(32 * flash * 3.5, rel=1e-9)  # backward 2.5x forward
    assert result.breakdown_s["compute"] == pytest.approx(stage.forward_s + stage.backward_s)
    # every GEMM row reports what it achieved: below the ceiling, above zero
    for gemm, seconds, share in stage.gemms:
        assert 0.3 < share <= rates.ceiling, gemm.name


def test_pipeline_bubble_is_pp_minus_one_over_v_micro_batches(small):
    scenario, fabric = small
    base = dict(model="llama3-8b", tp=8, pp=4, cp=1, dp=2, global_batch=32, seq=2048)
    flat = train(scenario, fabric, **base, virtual_stages=1)
    interleaved = train(scenario, fabric, **base, virtual_stages=2)
    m = flat.micro_batches
    assert m == 16
    per_micro = flat.stage.total_s + flat.exposure.slowdown_per_micro + sum(flat.exposure.per_micro.values())
    assert per_micro * m == pytest.approx(sum(v for k, v in flat.breakdown_s.items()
                                              if k not in ("pipeline bubble", "optimizer", "training loop (host)",
                                                           "stragglers"))
                                          - flat.exposure.dp_per_step, rel=1e-9)
    assert flat.breakdown_s["pipeline bubble"] == pytest.approx(3 * per_micro, rel=1e-9)
    # interleaving halves the bubble (in micro-batches), but sends twice as many activations
    assert interleaved.breakdown_s["pipeline bubble"] < 0.6 * flat.breakdown_s["pipeline bubble"]

    def sends(result):
        return sum(c.time_s * c.per_micro_batch for c in result.calls if c.kind == "pp")

    assert sends(interleaved) == pytest.approx(2 * sends(flat), rel=1e-6)
    # without virtual stages Megatron batches its sends and waits for them; interleaved, overlap_p2p_comm
    # (Megatron-Bridge comm_overlap.py) runs them under the next chunk's compute
    assert flat.breakdown_s["exposed PP comm"] == pytest.approx(m * sends(flat), rel=1e-9)
    assert interleaved.breakdown_s["exposed PP comm"] == 0.0
    assert interleaved.exposure.hidden_per_micro["pp"] == pytest.approx(sends(interleaved), rel=1e-9)
    waiting = train(scenario, fabric, **base, virtual_stages=2, software="llama3-2024")  # no pp_comm_overlap
    assert waiting.breakdown_s["exposed PP comm"] == pytest.approx(m * sends(waiting), rel=1e-9)
    turned_off = train(scenario, fabric, **base, virtual_stages=2, pp_comm_overlap=False)
    assert turned_off.breakdown_s["exposed PP comm"] == pytest.approx(m * sends(turned_off), rel=1e-9)


def test_tp_collectives_carry_the_layer_activations(small):
    scenario, fabric = small
    r = train(scenario, fabric, model="llama3-8b", tp=8, pp=1, dp=8, global_batch=8, seq=4096, recompute="none")
    tp = [c for c in r.calls if c.kind == "tp"]
    assert {c.op for c in tp} == {"all_gather", "reduce_scatter"}
    for c in tp:
        assert c.size_bytes == 4096 * 4096 * 2  # seq x hidden x BF16
        assert c.per_micro_batch == 2 * 2 * 32  # two of each per layer, forward and backward
    dp = {c.op: c for c in r.calls if c.kind == "dp"}
    dense = (parameter_counts(scenario.catalog().get("models", "llama3-8b")).total) / 8
    assert dp["reduce_scatter"].size_bytes == pytest.approx(4 * dense, rel=0.01)  # FP32 gradients
    assert dp["all_gather"].size_bytes == pytest.approx(2 * dense, rel=0.01)  # BF16 weights


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 4]), st.sampled_from([1024, 2048, 4096]))
def test_mfu_never_exceeds_the_gemm_ceiling_and_breakdown_sums(tp, pp, seq):
    scenario = scenario_from_dict({"cluster": {"gpus": 64}})
    dp = 64 // (tp * pp)
    r = train(scenario, model="llama3-8b", tp=tp, pp=pp, dp=dp, global_batch=dp * 4 * pp, seq=seq,
              )
    assert 0 < r.mfu <= rates_for(scenario_gpu(scenario), "bf16").ceiling
    parts = sum(r.breakdown_s.values())
    assert parts == pytest.approx(r.step_time_s, rel=1e-9)


def scenario_gpu(scenario):
    return scenario.catalog().gpu(scenario.cluster.gpu)


@pytest.fixture(scope="module")
def default16k():
    scenario = scenario_from_dict({})
    return scenario, fabric_from_scenario(scenario)


def test_ecmp_vs_spraying_moves_the_step_through_dp_communication(default16k):
    """Llama 3 405B on 16,384 GPUs in the paper's rank order: DP groups (stride 128 GPUs, DP outermost) cross the core; ECMP
    hashing collides there and spraying does not.  The step-time difference is exactly the change of
    the exposed DP communication, and the simulated DP collective shows the delivered share."""
    scenario, fabric = default16k
    ecmp = train(scenario, fabric, load_balancing="ecmp", order="tp-cp-pp-dp")
    spray = train(scenario, fabric, load_balancing="spray", order="tp-cp-pp-dp")
    dp_ecmp = [c for c in ecmp.calls if c.kind == "dp"][0].timing
    dp_spray = [c for c in spray.calls if c.kind == "dp"][0].timing
    assert dp_ecmp.delivered < 0.75 and dp_spray.delivered == pytest.approx(1.0, rel=1e-3)
    assert ecmp.step_time_s > spray.step_time_s
    moved = {k: ecmp.breakdown_s[k] - spray.breakdown_s[k] for k in ecmp.breakdown_s}
    assert ecmp.step_time_s - spray.step_time_s == pytest.approx(sum(moved.values()), rel=1e-9)
    assert max(moved, key=moved.get) == "exposed DP comm"


def test_in_network_reduction_cuts_the_gradient_all_reduce_to_one_crossing():
    scenario = scenario_from_dict({"cluster": {"gpus": 64}, "fabric": {"in_network_reduction": "nvls+sharp"}})
    fabric = fabric_from_scenario(scenario)
    job = dict(model="llama3-8b", tp=8, pp=1, dp=8, global_batch=8, seq=2048, zero=0, dp_overlap=False)
    ring = train(scenario, fabric, **job, algorithm="ring")
    sharp = train(scenario, fabric, **job, algorithm="in_network")
    # ring all-reduce moves 2(n-1)/n of the buffer through each NIC, SHARP moves it once: 8/14 for n = 8,
    # and NCCL's CollNet Direct runs at 85% of its graph bandwidth on Hopper (tuning.cc)
    assert sharp.breakdown_s["exposed DP comm"] == pytest.approx(8 / 14 / 0.85 * ring.breakdown_s["exposed DP comm"],
                                                                 rel=0.02)
    assert ring.step_time_s - sharp.step_time_s == pytest.approx(
        ring.breakdown_s["exposed DP comm"] - sharp.breakdown_s["exposed DP comm"], rel=1e-9)


def test_llama3_405b_on_16k_h100_lands_near_the_published_mfu():
    """Llama 3 paper Table 4: 16,384 H100, TP8 CP1 PP16 DP128, seq 8192, 16M tokens per step ->
    400 TFLOP/s per GPU, 41% BF16 MFU, on the RoCE cluster of section 3.3.1 with the recipe of section
    3.3.2: no activation checkpointing, FP32 gradients accumulated and reduce-scattered once per step,
    one layer fewer on the first and last stage."""
    scenario = load_scenario(Path(__file__).parent.parent / "examples" / "llama3-24k-h100-roce.yaml")
    r = train(scenario, **LLAMA3_RECIPE, dp=128, gpus=16384)
    assert r.recompute == "none"
    assert r.layout.layers[0] == r.layout.layers[-1] == 7 and set(r.layout.layers[1:-1]) == {8}
    assert r.model_flops_per_s_per_gpu == pytest.approx(400e12, rel=0.10)
    assert r.tokens_per_step == 2048 * 8192
    # Megatron's default schedule (micro-batch group N = pp) would not fit 8K sequences without
    # checkpointing on 8,192 GPUs (32 micro-batches): the recipe needs a smaller group
    with pytest.raises(FabricsimError, match="would fit"):
        train(scenario_from_dict({"cluster": {"gpus": 8192}}), **{**LLAMA3_RECIPE, "pipeline_group": None}, dp=64,
              communication="analytic")


LLAMA3_RECIPE = dict(model="llama3-405b", tp=8, pp=16, cp=1, global_batch=2048, seq=8192, recompute="none", zero=1,
                     first_stage_layers=7, last_stage_layers=7, software="llama3-2024", pipeline_group=8,
                     order="tp-cp-pp-dp")


def test_bad_degrees_and_models_are_named(small):
    scenario, fabric = small
    with pytest.raises(FabricsimError, match=r"tp x pp x cp x dp = 8 x 2 x 1 x 8 = 128 GPUs.*use dp=4"):
        train(scenario, fabric, model="llama3-8b", tp=8, pp=2, dp=8)
    with pytest.raises(FabricsimError, match="tp=64 does not divide gpt3-175b's 96 attention heads"):
        train(scenario, fabric, model="gpt3-175b", tp=64, pp=1, dp=1)
    with pytest.raises(FabricsimError, match="Did you mean 'llama3-405b'"):
        train(scenario, fabric, model="llama3-450b")
    with pytest.raises(FabricsimError, match="seq=1000 must split into 2 x cp=16"):
        train(scenario, fabric, model="llama3-8b", tp=4, pp=1, cp=16, dp=1, global_batch=1, seq=1000)
    with pytest.raises(FabricsimError, match="routed experts"):
        train(scenario, fabric, model="mixtral-8x7b", tp=1, pp=1, dp=64, ep=3, global_batch=64, seq=2048)


def test_a_model_that_does_not_fit_says_by_how_much_and_what_would(small):
    scenario, fabric = small
    with pytest.raises(FabricsimError, match=r"needs 18\d\.\d GB .*over by 10\d\.\d GB.*would fit: zero=3") as err:
        train(scenario, fabric, model="llama3-70b", tp=8, pp=1, dp=8, global_batch=8, seq=8192, zero=0,
              recompute="none")
    assert "80 GB of HBM" in str(err.value)
    with pytest.raises(FabricsimError, match="no single change tried"):
        train(scenario, fabric, model="llama3-405b", tp=8, pp=1, dp=8, global_batch=8, seq=8192)
    assert OPTIMIZER_BYTES == 12


def test_what_if_rows_rerun_only_the_fabric_and_name_what_moved():
    from fabricsim.workload.what_if import fabric_what_ifs

    scenario = scenario_from_dict({"cluster": {"gpus": 2048}})
    job = dict(model="llama3-70b", tp=8, pp=4, dp=64, global_batch=256, seq=4096, load_balancing="ecmp",
               order="tp-cp-pp-dp", dp_overlap=False)
    base = train(scenario, **job)
    rows = {r["change"]: r for r in fabric_what_ifs(scenario, job, base)}
    assert set(rows) == {"load balancing ecmp -> spray", "load balancing ecmp -> flowlet",
                         "DP collectives -> in-network reduction (SHARP)", "leaf oversubscribed 2:1"}
    oversubscribed = rows["leaf oversubscribed 2:1"]
    assert oversubscribed["step_time_s"] > base.step_time_s
    assert "exposed" in oversubscribed["explanation"]
    # the breakdown of every variant still adds up to its step
    for row in rows.values():
        assert sum(row["breakdown_s"].values()) == pytest.approx(row["step_time_s"], rel=1e-9)


def test_every_step_pays_the_training_loop_once_whatever_its_micro_batches(small):
    scenario, fabric = small
    profile = scenario.catalog().get("software", "megatron-core-2025")
    assert profile.step_host_s > 0
    base = dict(model="llama3-8b", tp=8, pp=1, cp=1, dp=8, seq=2048, software="megatron-core-2025")
    one, many = (train(scenario, fabric, **base, global_batch=gbs) for gbs in (8, 64))
    for result in (one, many):
        assert result.breakdown_s["training loop (host)"] == profile.step_host_s
        assert result.step_time_s == pytest.approx(sum(result.breakdown_s.values()), rel=1e-12)
    assert (one.micro_batches, many.micro_batches) == (1, 8)  # paid once per step, not per micro-batch


def test_primary_fp8_weights_are_all_gathered_in_one_byte_but_embeddings_and_norms_in_two(small):
    """Llama 3 8B on TP 1, PP 1, DP 64: the distributed optimizer's weight all-gather moves the 2 x 128,256 x 4,096
    embedding parameters and the 2 x 4,096 norm gains of each of 32 layers (plus the final norm) in BF16 and
    every linear weight as its one-byte FP8 copy (Megatron-Core fp8_param_gather)."""
    scenario, fabric = small
    job = dict(model="llama3-8b", tp=1, pp=1, cp=1, dp=64, global_batch=64, seq=2048, precision="fp8",
               fp8_recipe="tensorwise", zero=1, gradient_reduce_bytes=2)
    counts = parameter_counts(scenario.catalog().get("models", "llama3-8b"))
    gathers = {}
    for fp8_weights in (False, True):
        result = train(scenario, fabric, **job, fp8_weights=fp8_weights)
        (call,) = [c for c in result.calls if c.what == "dense weight all-gather"]
        gathers[fp8_weights] = call.size_bytes
    dense = gathers[False] / 2
    assert counts.norms_per_layer == 2 * 4_096
    kept = 2 * 128_256 * 4_096 + 32 * 2 * 4_096
    assert dense == counts.total - 4_096  # every parameter but the final norm's gains
    assert gathers[True] == pytest.approx(2 * kept + (dense - kept), rel=1e-9)
