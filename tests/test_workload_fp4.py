"""NVFP4 weights in serving: FP4 tensor cores on Blackwell, weight-only widening elsewhere, and the bytes they hold."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import infer
from fabricsim.workload.gemm import NVFP4_BYTES, gemm_seconds, rates_for
from fabricsim.workload.weight_format import expert_precision, stored_bytes, weight_precision

CATALOG = default_catalog()


def test_nvfp4_bytes_are_a_nibble_and_an_fp8_scale_per_16():
    assert NVFP4_BYTES == pytest.approx(0.5 + 1 / 16)
    assert stored_bytes(0.5) == NVFP4_BYTES and stored_bytes(1) == 1.0 and stored_bytes(2) == 2.0
    assert [weight_precision(b) for b in (0.5, 1, 2)] == ["fp4", "fp8", "bf16"]


def test_fp4_on_blackwell_tensor_cores_and_widened_on_hopper():
    """B200: the catalog's dense FP4 peak (9 PFLOP/s), both operands in NVFP4, at the FP4 share of that peak cuBLASLt
    measures (fp4_matmul_efficiency, below FP8's MAMF share).  H100 has no FP4 tensor cores: the GEMM runs at its FP8
    rate and only the weight operand moves NVFP4 bytes."""
    b200, h100 = CATALOG.gpu("b200"), CATALOG.gpu("h100-sxm")
    fp4, fp8 = rates_for(b200, "fp4"), rates_for(b200, "fp8")
    assert fp4.peak == 9.0e15 and fp4.in_bytes == NVFP4_BYTES and fp4.weight_bytes is None
    # each ratio re-derived over the same MAMF sweep, so the ceilings keep the catalog's proportion
    assert fp4.ceiling / fp8.ceiling == pytest.approx(b200.fp4_matmul_efficiency / b200.fp8_matmul_efficiency, rel=0.02)
    widened, h100_fp8 = rates_for(h100, "fp4"), rates_for(h100, "fp8")
    assert widened.peak == h100_fp8.peak and widened.in_bytes == 1.0 and widened.weight_bytes == NVFP4_BYTES
    # a decode GEMM (16 rows) is bound by reading its weights: NVFP4 reads 0.5625 / 1 of FP8's bytes
    m, n, k = 16, 8192, 8192
    ratio = float(gemm_seconds(m, n, k, widened)) / float(gemm_seconds(m, n, k, h100_fp8))
    expected = (m * k * 1.0 + k * n * NVFP4_BYTES + 2 * m * n) / (m * k * 1.0 + k * n * 1.0 + 2 * m * n)
    assert ratio == pytest.approx(expected, rel=1e-9)
    # a prefill GEMM is compute-bound: FP4 tensor cores double B200's peak but reach less of it than FP8 does of its
    # own -- cuBLASLt FP4 at 8,192^3: 5,239 TFLOP/s (DeepGEMM PR #348, the fit) against FP8's 3,432 MAMF --, widening
    # leaves H100's alone
    big = (8192, 8192, 8192)
    alone = rates_for(b200.model_copy(update={"sustained_compute_ratio": 1.0}), "fp4")  # one kernel on an idle GPU
    fp4_rate = 2.0 * 8192**3 / (float(gemm_seconds(*big, alone)) + 3e-6)  # + the kernel case's launch gap
    assert fp4_rate == pytest.approx(5239e12, rel=0.01)
    assert 1.4 < float(gemm_seconds(*big, fp8)) / float(gemm_seconds(*big, fp4)) < 1.7
    assert float(gemm_seconds(*big, widened)) == pytest.approx(float(gemm_seconds(*big, h100_fp8)), rel=1e-9)


def test_block_scaled_fp4_gemms_run_a_static_tile_schedule_and_a_fixed_time_per_kernel():
    """Blackwell's block-scaled FP4 GEMMs (CUTLASS's persistent kernels with a static tile schedule): one tile more
    than the SMs takes a second wave -- about twice the time of exactly one wave, where stream-K would balance it --
    and every kernel from 128 rows takes the fitted fixed time on top; FP8 keeps stream-K and no fixed time."""
    b200 = CATALOG.gpu("b200")
    fp4, fp8 = rates_for(b200, "fp4"), rates_for(b200, "fp8")
    assert (fp4.stream_k, fp4.fixed_s) == (False, b200.fp4_gemm_fixed_s) and (fp8.stream_k, fp8.fixed_s) == (True, 0.0)
    tile_m, tile_n = fp4.tile
    one_wave = (tile_m * b200.sm_count, tile_n, 8192)  # exactly one tile per SM
    one_more = (tile_m * (b200.sm_count + 1), tile_n, 8192)
    work = [float(gemm_seconds(*shape, fp4)) - fp4.fixed_s for shape in (one_wave, one_more)]
    assert work[1] / work[0] == pytest.approx(2.0, rel=0.02)
    balanced = [float(gemm_seconds(*shape, fp8)) for shape in (one_wave, one_more)]
    assert balanced[1] / balanced[0] < 1.05  # stream-K spreads the extra tile over the SMs
    # the fixed time applies from 128 rows: a 127-row GEMM skips it, a 128-row one pays it
    small, at_floor = float(gemm_seconds(127, 2048, 2048, fp4)), float(gemm_seconds(128, 2048, 2048, fp4))
    assert at_floor - small == pytest.approx(fp4.fixed_s, rel=0.05)


def _minimax(gpu="b200", **kw):
    spec = dict(model="minimax-m2.5", prefill_gpus=2, decode_gpus=2, tp=2, ep=2, batch=16, prefill_batch=1,
                context=7373, output_tokens=922, weight_bytes=1, kv_bytes=1, software="serving-2025")
    spec.update(kw)
    return infer(scenario_from_dict({"cluster": {"gpu": gpu, "gpus": 4}}), **spec)


def test_nvfp4_experts_hold_fewer_bytes_and_decode_faster():
    """MiniMax-M2.5 (224.7B of its 228.7B parameters in routed experts) on 2 B200: NVFP4 experts hold 0.5625 of FP8's
    expert bytes and, decode reading those weights, the step shortens; attention and the KV cache are unchanged."""
    fp8, nvfp4 = _minimax(), _minimax(expert_weight_bytes=0.5)
    assert nvfp4.tokens_per_s_per_gpu > 1.15 * fp8.tokens_per_s_per_gpu
    assert nvfp4.prefill_s < fp8.prefill_s  # the experts' prompt GEMMs run on FP4 tensor cores
    assert expert_precision(type("S", (), {"expert_weight_bytes": 0.5, "weight_bytes": 1})()) == "fp4"
    assert expert_precision(type("S", (), {"expert_weight_bytes": None, "weight_bytes": 1})()) is None


def test_weight_bytes_outside_the_formats_is_refused_with_the_field_named():
    with pytest.raises(FabricsimError, match="weight_bytes"):
        _minimax(expert_weight_bytes=0.75)


def test_published_nvfp4_serving_runs_hold():
    """The held-out InferenceX NVFP4 rows (MiniMax-M2.5 on B200 by vLLM; DeepSeek-R1-0528 on B200, B300 and GB200 by
    SGLang, TensorRT-LLM and Dynamo): every one within its 25% tolerance, their median within 10%."""
    from fabricsim.validation.runner import run_validation

    rows = run_validation(layer="inference", match="inferencex-*-nvfp4-*") + run_validation(
        layer="inference", match="inferencex-dsr1-fp4-*")
    assert len(rows) == 17
    assert all(r.status == "pass" for r in rows)
    errors = sorted(abs(r.error) for r in rows)
    assert errors[len(errors) // 2] < 0.10


def test_nvfp4_training_needs_fp4_tensor_cores_and_runs_its_gemms_on_them():
    """precision fp4 (Megatron-Bridge's nvfp4 recipe): refused on H100 with the field named; on GB300 the 70B step's
    layer GEMMs run at the FP4 rate (3x FP8's dense peak on Blackwell Ultra, at B200's measured FP4 share of it, 0.618
    against FP8's MAMF share 0.745) and its casts move
    the NVFP4 recipe's bytes (read twice -- amax and cast -- and write two 0.5625-byte copies)."""
    from fabricsim.workload import train
    from fabricsim.workload.fp8_casts import RECIPE_CAST_BYTES

    assert RECIPE_CAST_BYTES["nvfp4"] == pytest.approx(2 + 2 + 2 * NVFP4_BYTES)
    job = dict(model="llama3-70b", tp=1, pp=4, dp=16, virtual_stages=5, global_batch=256, micro_batch=1, seq=8192,
               gradient_reduce_bytes=2, recompute="none", gpus=64, tp_comm_overlap=0.0)
    with pytest.raises(FabricsimError, match="workload.train.precision=fp4"):
        train(scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 64}}), precision="fp4", **job)
    gb300 = scenario_from_dict({"cluster": {"gpu": "gb300", "gpus": 72}})
    fp8 = train(gb300, precision="fp8", fp8_recipe="mxfp8", **job)
    fp4 = train(gb300, precision="fp4", **job)
    layer_gemms = lambda r: sum(s for g, s, _ in r.stage.gemms if g.name != "output head")  # noqa: E731
    assert layer_gemms(fp8) / layer_gemms(fp4) == pytest.approx(3.0 * 0.618 / 0.745, rel=0.1)
    assert 1.3 < fp4.tokens_per_s_per_gpu / fp8.tokens_per_s_per_gpu < 2.0


def test_published_nvfp4_training_runs_hold():
    """Megatron-Bridge 26.02's NVFP4 rows (Llama 3 70B and 3.1 405B on GB200 and GB300), held out: within 25%."""
    from fabricsim.validation.runner import run_validation

    rows = run_validation(layer="training", match="*-nvfp4")
    assert len(rows) == 4 and all(r.status == "pass" for r in rows)


def test_cli_refuses_nvfp4_training_without_fp4_cores_before_searching_layouts():
    """Without a layout of the user's, fabricsim train searches one; an fp4 job on H100 must say why it cannot run,
    not that no layout fits."""
    from typer.testing import CliRunner

    from fabricsim.cli import app

    out = CliRunner().invoke(app, ["train", "--model", "llama3-8b", "--precision", "fp4"])
    assert out.exit_code == 2
    assert "workload.train.precision=fp4" in out.output and "no parallel layout" not in out.output
