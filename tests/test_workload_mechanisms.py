"""The mechanisms of the training step, checked by hand: GEMM shape efficiency, activation memory by
recomputation policy, pipeline layouts and schedules, expert placement and routing, ZeRO-3, eras."""

import numpy as np
import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.gemm import (MAMF_SWEEP, achieved_fraction, gemm_seconds, rates_for, shape_efficiency,
                                    wgrad_output_bytes)
from fabricsim.workload.memory import in_flight_chunks
from fabricsim.workload.model import activation_bytes_per_token_per_layer
from fabricsim.workload.moe import dispatch_copies, dispatcher_for, forwarding_domain
from fabricsim.workload.parallelism import Parallelism, rank_groups
from fabricsim.workload.pipeline import stage_layout

CATALOG = default_catalog()


@pytest.mark.parametrize("name", ["a100-sxm", "h100-sxm", "b200", "gb200", "gb300"])
def test_gemm_model_peaks_at_the_measured_mamf_over_its_sweep(name):
    """The ceiling is derived, not fitted: MAMF is the best of a sweep of shapes, so over that sweep the
    model's best achieved fraction is MAMF (divided by the GPU's sustained-compute ratio, which is 1 for a
    single-kernel benchmark), and at the shape the benchmark reported it is no higher than MAMF."""
    gpu = CATALOG.gpu(name)
    m, n, k = np.meshgrid(MAMF_SWEEP, MAMF_SWEEP, MAMF_SWEEP, indexing="ij", sparse=True)
    for precision, measured, shape in (("bf16", gpu.matmul_efficiency, gpu.matmul_best_shape),
                                       ("fp8", gpu.fp8_matmul_efficiency, gpu.fp8_matmul_best_shape)):
        if measured is None:
            continue
        rates = rates_for(gpu, precision)
        best = float(np.max(rates.ceiling * shape_efficiency(m, n, k, rates))) / gpu.sustained_compute_ratio
        assert best == pytest.approx(measured, rel=1e-9), (name, precision)
        at_reported = float(achieved_fraction(*shape, rates)) / gpu.sustained_compute_ratio
        assert at_reported <= measured * (1 + 1e-9), (name, precision)


def test_a_short_k_mamf_does_not_lift_the_ceiling_above_the_measurement():
    """GB200's FP8 MAMF (72.3%) was found at K = 1,536, where the model's K overhead costs ~17%: dividing by
    the efficiency there would put long-K GEMMs ~17% above anything measured."""
    gpu = CATALOG.gpu("gb200")
    rates = rates_for(gpu, "fp8")
    long_k = float(achieved_fraction(16384, 16384, 16384, rates)) / gpu.sustained_compute_ratio
    assert long_k <= gpu.fp8_matmul_efficiency * (1 + 1e-9)
    assert long_k > 0.95 * gpu.fp8_matmul_efficiency


def test_skinny_k_tiles_and_waves_cost_what_the_mechanism_says():
    h100, a100 = rates_for(CATALOG.gpu("h100-sxm"), "bf16"), rates_for(CATALOG.gpu("a100-sxm"), "bf16")
    k = [128, 512, 2048, 8192, 32768]
    eff = [float(shape_efficiency(8192, 8192, x, h100)) for x in k]
    assert eff == sorted(eff) and eff[0] < 0.5 < eff[-1]
    assert eff[2] == pytest.approx(2048 / (2048 + h100.k_balance), rel=1e-9)  # many tiles: K / (K + K_balance)
    # A100 (no stream-K): 109 tiles of 128 x 256 on 108 SMs run in two waves, the second nearly empty
    one_more = float(shape_efficiency(128 * 109, 256, 4096, a100)) / float(shape_efficiency(128 * 108, 256, 4096, a100))
    assert one_more == pytest.approx(109 / 216, rel=1e-9)
    # H100 balances the last wave (stream-K): one more tile costs almost nothing
    assert float(shape_efficiency(128 * 133, 256, 4096, h100)) == pytest.approx(
        float(shape_efficiency(128 * 132, 256, 4096, h100)), rel=1e-9)
    # a decode GEMM (one row) streams its weights: time = bytes / HBM bandwidth
    gpu = CATALOG.gpu("h100-sxm")
    t = float(gemm_seconds(1, 8192, 8192, rates_for(gpu, "fp8")))
    assert t == pytest.approx((8192 + 8192 * 8192 + 2 * 8192) / gpu.hbm_stream_bytes_per_s, rel=1e-9)


def test_weight_gradients_accumulate_into_main_gradients_of_the_reduce_dtype():
    """Megatron's fused gradient accumulation reads and writes the main gradient in the epilogue: 8 bytes per
    element in FP32, 4 in BF16 (grad_reduce_in_fp32 False).  A weight gradient of 8192 x 8192 over K = 8192
    tokens on H100 (many tiles): K / (K + K_balance x bytes / 2)."""
    assert (wgrad_output_bytes(4), wgrad_output_bytes(2)) == (8, 4)
    h100 = rates_for(CATALOG.gpu("h100-sxm"), "bf16")
    for grad_bytes in (4, 2):
        out = wgrad_output_bytes(grad_bytes)
        assert float(shape_efficiency(8192, 8192, 8192, h100, out_bytes=out)) == pytest.approx(
            8192 / (8192 + h100.k_balance * out / 2), rel=1e-9)
    from fabricsim.workload.compute import Shape, layer_work

    model, gpu = CATALOG.get("models", "llama3-70b"), CATALOG.gpu("h100-sxm")
    profile = CATALOG.get("software", "megatron-core-2025")
    fp32, bf16 = (layer_work(model, gpu, Shape(8192, 8192, 1, 8, True, "bf16", gradient_bytes=b), profile, False)
                  for b in (4, 2))
    assert bf16.gemm_forward == fp32.gemm_forward and bf16.gemm_backward < fp32.gemm_backward


def test_recomputation_frees_exactly_what_it_recomputes():
    model = CATALOG.get("models", "llama3-70b")
    h, f, tp = model.hidden_size, model.ffn_hidden_size, 8
    none = activation_bytes_per_token_per_layer(model, 8192, tp, True, "none")
    selective = activation_bytes_per_token_per_layer(model, 8192, tp, True, "selective")
    full = activation_bytes_per_token_per_layer(model, 8192, tp, True, "full")
    assert none - selective == pytest.approx((4 * h + 2 * f) / tp)  # norm outputs and the SwiGLU product
    assert full == 2 * h / tp
    gpt = CATALOG.get("models", "gpt3-175b")  # materialized attention with dropout: 5 a s bytes per token
    kept = activation_bytes_per_token_per_layer(gpt, 2048, 8, True, "none", materialized=True, dropout=True)
    freed = activation_bytes_per_token_per_layer(gpt, 2048, 8, True, "selective", materialized=True, dropout=True)
    assert kept - freed == pytest.approx(5 * 96 * 2048 / 8)
    # Korthikanti et al. 2022: 5as/h > 34 for GPT-3 -> selective recomputation frees most of the activations
    assert (kept - freed) / kept > 0.6


def test_pipeline_layouts_and_schedules_by_hand():
    llama = stage_layout(CATALOG.get("models", "llama3-405b"), 16, 7, 7)
    assert llama.layers[0] == llama.layers[-1] == 7 and sum(llama.layers) == 126
    deepseek = stage_layout(CATALOG.get("models", "deepseek-v3"), 16)
    assert deepseek.moe_layers[0] == deepseek.layers[0] - 3  # the three dense layers sit on the first stage
    with pytest.raises(FabricsimError, match="first_stage_layers=70"):
        stage_layout(CATALOG.get("models", "llama3-405b"), 16, 70, 70)
    # Megatron's interleaved warm-up: 2 (pp - 1) + (v - 1) N chunk-forwards, then one more in flight
    par = Parallelism(tp=8, pp=16, dp=8, virtual_stages=8)
    assert in_flight_chunks(par, 32, 0) == 2 * 15 + 7 * 16 + 1
    assert in_flight_chunks(par, 32, 0, group=8) == 2 * 15 + 7 * 8 + 1
    assert in_flight_chunks(Parallelism(tp=8, pp=16, dp=8), 32, 3) == 16 - 3


def test_experts_fold_into_nearby_ranks_and_stay_inside_nvl72_racks():
    par = Parallelism(tp=1, pp=4, dp=64, ep=64)
    g = rank_groups(par, "tp-cp-ep-dp-pp", "auto", domain=72, cluster_gpus=288)
    racks = g.ep // 72
    assert np.all(racks == racks[:, :1])  # every expert group of 64 inside one 72-GPU rack
    assert np.unique(g.gpu_of_rank // 72, return_counts=True)[1].tolist() == [64] * 4  # 8 GPUs per rack idle
    assert g.edp.shape == (4 * 64, 1)
    # ep must fold into the stage's tp x cp x dp ranks
    folded = rank_groups(Parallelism(tp=2, pp=1, dp=16, ep=32), "tp-cp-ep-dp-pp")
    assert folded.ep.shape == (1, 32) and sorted(folded.ep[0].tolist()) == list(range(32))


def test_node_limited_routing_sends_one_copy_per_target_node():
    model = CATALOG.get("models", "deepseek-v3")
    assert dispatch_copies(model, Parallelism(ep=64), 8, None) == 8  # one per routed expert
    # 8 experts over 8 nodes land on 8 (1 - (7/8)^8) = 5.25 distinct nodes on average, capped at 4
    assert dispatch_copies(model, Parallelism(ep=64), 8, 4) == 4
    assert dispatch_copies(model, Parallelism(ep=64), 8, 6) == pytest.approx(8 * (1 - (7 / 8) ** 8))
    # the whole group in one node: DeepEP's intranode dispatch sends one copy per target GPU, 8 (1 - (7/8)^8)
    assert dispatch_copies(model, Parallelism(ep=8), 8, 4) == pytest.approx(5.2511, abs=1e-4)


def test_flex_dispatchers_send_one_copy_per_target_gpu_or_node_without_a_node_limit():
    """Megatron-Core's flex dispatcher (DeepEP, HybridEP) deduplicates by destination whatever the routing:
    Qwen3-30B (8 of 128 experts) on EP8 in one server, 8 (1 - (7/8)^8) = 5.25 copies; on EP16 over two
    servers, 2 (1 - (1/2)^8) = 1.99 cross the network; HybridEP keeps a GB200 NVL72 rack as one domain,
    so EP64 there is 64 (1 - (63/64)^8) = 7.56 NVLink copies; the all-to-all dispatcher always sends 8."""
    model = CATALOG.get("models", "qwen3-30b-a3b")
    assert dispatch_copies(model, Parallelism(ep=8), 8, None, "alltoall") == 8
    assert dispatch_copies(model, Parallelism(ep=8), 8, None, "deepep") == pytest.approx(5.2511, abs=1e-4)
    assert dispatch_copies(model, Parallelism(ep=16), 8, None, "hybridep") == pytest.approx(2 * (1 - 0.5 ** 8))
    assert forwarding_domain("hybridep", 72, 4) == 72 and forwarding_domain("deepep", 72, 4) == 4
    assert dispatch_copies(model, Parallelism(ep=64), 72, None, "hybridep") == pytest.approx(64 * (1 - (63 / 64) ** 8))
    assert dispatcher_for(None, 4) == "deepep" and dispatcher_for(None, None) == "alltoall"


def test_zero3_throughput_falls_as_gpus_double_at_a_fixed_batch():
    """Narayanan et al. 2021 Table 2: ZeRO-3 on GPT-3 175B loses throughput per GPU as GPUs double (fixed
    batch: each GPU's compute halves, its weight gathers do not); model parallelism does not."""
    tflops = []
    for gpus, micro in ((384, 4), (768, 2), (1536, 1)):
        scenario = scenario_from_dict({"cluster": {"gpu": "a100-sxm", "gpus": gpus}})
        r = train(scenario, model="gpt3-175b", tp=1, pp=1, dp=gpus, global_batch=1536, seq=2048, micro_batch=micro,
                  sequence_parallel=False, gradient_reduce_bytes=2, recompute="full", zero=3,
                  software="deepspeed-zero3-2021", algorithm="ring", communication="analytic")
        tflops.append(r.hardware_flops_per_s_per_gpu)
        gathers = {c.size_bytes / 2 for c in r.calls if c.kind == "dp" and c.op == "all_gather"}
        h = 12288
        assert gathers == {3 * h * h, h * h, 4 * h * h}  # the four weight matrices; biases and norms persist
        # DeepSpeed's coordinator: 4 gathers forward, 4 in the recomputed forward, 3 backward (the last
        # module of a recomputed layer is reused by its backward at once) per layer
        assert f"{96 * 11} gathers" in r.notes[-1]
    assert tflops[0] > tflops[1] > tflops[2]
    assert tflops[2] < 0.7 * tflops[0]


def test_2021_software_runs_the_same_model_slower_than_2025():
    scenario = scenario_from_dict({"cluster": {"gpu": "a100-sxm", "gpus": 64}})
    job = dict(model="gpt3-175b", tp=8, pp=8, dp=1, global_batch=64, seq=2048, recompute="full",
               communication="analytic")
    old = train(scenario, **job, software="megatron-2021")
    new = train(scenario, **job, software="megatron-core-2025")
    assert old.stage.attention_s > 2 * new.stage.attention_s  # materialized scores vs a fused kernel
    assert old.step_time_s > new.step_time_s


def test_every_catalog_model_reproduces_its_published_parameter_count():
    """The shape arithmetic recomputes each model's published total (and active) parameters within 3%."""
    from fabricsim.workload.model import parameter_counts

    for name, model in CATALOG.sections["models"].items():
        counts = parameter_counts(model)
        assert counts.total == pytest.approx(model.published_parameters, rel=0.03), name
        if "published_active_parameters" not in model.assumptions:
            assert counts.active == pytest.approx(model.published_active_parameters, rel=0.03), name



def test_kimi_k2_parameter_count_is_the_hand_count_of_its_config():
    """Kimi K2 by hand from its config.json shapes (Megatron-Bridge KimiK2Provider agrees): MLA per layer
    q 7168x1536 + 1536 + 1536x64x192, kv 7168x576 + 512 + 512x64x256, out 64x128x7168 = 101,124,096; two
    RMSNorms 2 x 7168; 1 dense layer of SwiGLU 3x7168x18432; 60 MoE layers of 384 routed + 1 shared experts
    of 3x7168x2048 and a 384x7168 router; embedding and output head 163840x7168 each; final norm 7168.
    Within 1.5% of the report's 1.04T total and 32.6B active (arXiv:2507.20534 Table 2)."""
    from fabricsim.workload.model import parameter_counts

    model = CATALOG.get("models", "kimi-k2")
    attention = 7168 * 1536 + 1536 + 1536 * 64 * 192 + 7168 * 576 + 512 + 512 * 64 * 256 + 64 * 128 * 7168
    expert = 3 * 7168 * 2048
    per_layer = attention + 2 * 7168
    total = (61 * per_layer + 3 * 7168 * 18432 + 60 * (385 * expert + 384 * 7168) + 2 * 163840 * 7168 + 7168)
    active = total - 60 * (384 - 8) * expert
    counts = parameter_counts(model)
    assert attention == 101_124_096
    assert counts.total == total == 1_026_408_209_408
    assert counts.active == active
    assert counts.total == pytest.approx(1.04e12, rel=0.015)
    assert counts.active == pytest.approx(3.26e10, rel=0.015)

def test_multi_token_prediction_sits_on_the_last_stage_with_a_second_head():
    """DeepSeek-V3 trains one MTP module (report section 2.2): one more MoE block on the last stage, plus a
    2h x h projection and a second pass through the output head and loss."""
    from fabricsim.workload.compute import Shape, head_work, stage_compute
    from fabricsim.workload.pipeline import stage_layout

    model = CATALOG.get("models", "deepseek-v3")
    assert model.mtp_modules == 1
    plain = stage_layout(model, 16, 4, 1)
    with_mtp = stage_layout(model, 16, 4, 1, mtp=1)
    assert plain.layers == (4,) * 15 + (1,) and plain.moe_layers[0] == 1  # three dense blocks first
    assert with_mtp.layers[-1] == 2 and with_mtp.moe_layers[-1] == 2 and with_mtp.decoder_layers == plain.layers
    gpu, profile = CATALOG.gpu("b200"), CATALOG.get("software", "megatron-core-2025")
    shape = Shape(4096, 4096, 1, 1, False, "fp8", 8, 1, 1024, 32768)
    one = stage_compute(model, gpu, shape, profile, 0, 2, True, "none")
    two_heads = stage_compute(model, gpu, shape, profile, 0, 2, True, "none", mtp=1)
    mtp = head_work(model, gpu, shape, profile, mtp=True)
    head = head_work(model, gpu, shape, profile)
    assert two_heads.total_s - one.total_s == pytest.approx(mtp.forward + mtp.backward)
    assert mtp.gemm_flops - head.gemm_flops == pytest.approx(3 * 2 * 4096 * 7168 * 2 * 7168)  # the projection


def test_the_training_result_names_the_dispatcher_and_its_copies():
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 16}})
    result = train(scenario, model="qwen3-30b-a3b", tp=1, pp=1, dp=16, ep=8, global_batch=256, seq=4096,
                   precision="fp8", moe_dispatcher="hybridep")
    assert "MoE token dispatch: hybridep, 5.25 copies of each token per all-to-all over EP 8" in " ".join(result.notes)
    [a2a] = [c for c in result.calls if c.kind == "ep"]
    # rows x (BF16 hidden + half of HybridEP's FP32 probabilities: 16 experts per rank x 8 ranks of the node)
    assert a2a.size_bytes == pytest.approx(4096 * 8 * (1 - (7 / 8) ** 8) * (2048 * 2 + 4 * 16 * 8 / 2))


def test_transformer_engine_fp8_linears_keep_their_inputs_in_fp8():
    """Llama 3 8B, TP1, no recomputation: Transformer Engine's FP8 linears keep the FP8 cast of their inputs, so
    the two norm outputs (2 h) and FC2's input (the SwiGLU output, ffn) take 1 byte instead of 2: 2 x 4,096 +
    14,336 = 22,528 bytes less per token and layer; the attention output stays BF16 (kept by the attention
    kernel, shared with the output projection), and delayed scaling adds the projection's FP8 copy (4,096)."""
    model = CATALOG.get("models", "llama3-8b")
    bf16, te, delayed = (activation_bytes_per_token_per_layer(model, 8192, 1, False, "none", storage=s)
                         for s in ("bf16", "te-fp8", "te-fp8-delayed"))
    assert bf16 - te == 2 * 4096 + 14336
    assert delayed - te == 32 * 128


def test_fp8_storage_applies_to_fp8_runs_only():
    """A BF16 run on the Transformer Engine profile keeps BF16 activations; the same run in FP8 needs less."""
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    job = dict(model="llama3-8b", tp=2, pp=1, dp=4, global_batch=64, seq=4096, recompute="none", gradient_reduce_bytes=2,
               software="megatron-core-2025", communication="analytic")
    bf16, fp8 = (train(scenario, precision=p, **job) for p in ("bf16", "fp8"))
    assert fp8.memory.activations < bf16.memory.activations
    assert fp8.memory.activations / bf16.memory.activations == pytest.approx(
        activation_bytes_per_token_per_layer(CATALOG.get("models", "llama3-8b"), 4096, 2, True, storage="te-fp8")
        / activation_bytes_per_token_per_layer(CATALOG.get("models", "llama3-8b"), 4096, 2, True), rel=0.02)
