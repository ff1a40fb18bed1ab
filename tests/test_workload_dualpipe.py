"""DualPipe and DeepSeek-V3's activation storage, checked by hand against the report (arXiv:2412.19437,
section 3.2 and Table 2) and the reference schedule (github.com/deepseek-ai/DualPipe)."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.compute import StageCompute
from fabricsim.workload.dualpipe import bubble_s, check_dualpipe, pair_compute, paired_ranks
from fabricsim.workload.layers import Gemm
from fabricsim.workload.memory import MemoryJob, _stage_memory, memory_use
from fabricsim.workload.model import activation_bytes_per_token_per_layer
from fabricsim.workload.parallelism import Parallelism
from fabricsim.workload.pipeline import stage_layout

CATALOG = default_catalog()


def _stage(forward, backward, gemm, name="FC1"):
    return StageCompute(forward, backward, 0.0, gemm, 0.0, 0.0, 0.0, 1e12, 0.0,
                        gemms=[(Gemm(name, 1024, 1024, 1024), gemm, 0.5)])


def test_each_rank_pairs_stage_r_with_stage_pp_minus_1_minus_r():
    assert paired_ranks(8) == [(0, 7), (1, 6), (2, 5), (3, 4)]


def test_a_pair_adds_its_two_stages_and_merges_gemm_rows():
    pair = pair_compute(_stage(1.0, 2.0, 2.4), _stage(0.5, 1.0, 1.2))
    assert (pair.forward_s, pair.backward_s, pair.gemm_s, pair.gemm_flops) == pytest.approx((1.5, 3.0, 3.6, 2e12))
    [(gemm, seconds, share)] = pair.gemms
    assert gemm.name == "FC1" and seconds == pytest.approx(3.6) and share == pytest.approx(0.5)


def test_bubble_is_table_2s_formula_and_smaller_than_1f1b():
    """Chunk F = 1, B = 2 (all GEMMs: W = B / 2 = 1): (pp/2 - 1)(F&B + B - 3W) = 7 x (3 + 2 - 3) = 14
    chunk-seconds at pp = 16, against 1F1B's (pp - 1)(F + B) = 45."""
    pair = _stage(2.0, 4.0, 6.0)  # a pair is two chunks
    assert bubble_s(pair, 0.0, 16) == pytest.approx(14.0)
    assert bubble_s(pair, 0.0, 16) < (16 - 1) * (1.0 + 2.0)
    assert bubble_s(pair, 0.0, 2) == 0.0  # one pair of ranks: nothing to fill
    assert bubble_s(pair, 1.0, 16) == pytest.approx(7 * (3.5 + 2 - 3))  # exposed time rides on F&B


@pytest.mark.parametrize("pp, micro_batches, virtual, field", [
    (15, 60, None, "pp=15"), (16, 30, None, "at least 2 x pp = 32"), (16, 33, None, "= 33"),
    (16, 64, 2, "virtual_stages=2")])
def test_schedules_dualpipe_cannot_run_are_refused_by_name(pp, micro_batches, virtual, field):
    with pytest.raises(FabricsimError, match="dualpipe|DualPipe") as error:
        check_dualpipe(pp, micro_batches, virtual)
    assert field in str(error.value)


def test_deepseek_v3_linear_inputs_cached_in_fp8_by_hand():
    """Selective recomputation as DeepSeek-V3 trains (report 3.2.3 and 3.3.2), one MoE layer, bytes per
    token: norm inputs BF16 4h; norm outputs, q/k/v and the SwiGLU output recomputed; MLA latents FP8
    (512 + 64 + 1536); attention output E5M6 1.5 x 128 x 128; SwiGLU inputs FP8 2 x (8 + 1) x 2048;
    dispatched copies FP8 8 x 7168."""
    model = CATALOG.get("models", "deepseek-v3")
    stored = activation_bytes_per_token_per_layer(model, 4096, 1, True, "selective", moe=True, storage="fp8",
                                                  recompute_up_projection=True)
    h = 7168
    assert stored == 4 * h + (512 + 64 + 1536) + 1.5 * 128 * 128 + 2 * 9 * 2048 + 8 * h
    bf16 = activation_bytes_per_token_per_layer(model, 4096, 1, True, "selective", moe=True)
    assert bf16 > 2.5 * stored  # BF16 keeps q, k, v (2 x 128 x (2 x 192 + 128)) and 2-byte copies


def _deepseek_job(schedule: str) -> MemoryJob:
    model = CATALOG.get("models", "deepseek-v3")
    par = Parallelism(1, 16, 1, 128, 64, 1, 1, True, 1)
    layout = stage_layout(model, 16, mtp=1)
    profile = CATALOG.get("software", "deepseek-v3-2024")
    return MemoryJob(model, CATALOG.gpu("h800-sxm"), par, 4096, 1, 120, 4, layout, False, False, None, schedule,
                     profile.activation_storage, profile.recompute_mla_up_projection)


def test_a_dualpipe_rank_holds_both_stages_and_pp_plus_1_chunks():
    """Rank r holds the weights of stages r and pp-1-r and, at its peak, pp - r chunks of stage r and
    r + 1 of its partner: pp + 1 in all (Table 2)."""
    job = _deepseek_job("dualpipe")
    use = memory_use(job, "selective")
    first, last = (_stage_memory(job, s, "selective", 0, 1) for s in (0, 15))
    one_chunk = {s: _stage_memory(job, s, "selective", 0, 2).activations - m.activations
                 for s, m in ((0, first), (15, last))}
    assert use.stage == 0
    assert use.weights == pytest.approx(first.weights + last.weights)
    assert use.activations == pytest.approx(16 * one_chunk[0] + 1 * one_chunk[15])
    assert use.logits == max(first.logits, last.logits) > 0


def test_dualpipe_speeds_deepseek_v3_up_and_hides_its_pipeline_and_all_to_all():
    scenario = scenario_from_dict({"cluster": {"gpu": "h800-sxm", "gpus": 2048}})
    job = dict(model="deepseek-v3", tp=1, pp=16, dp=128, ep=64, global_batch=15360, micro_batch=1, seq=4096,
               precision="fp8", software="deepseek-v3-2024", zero=1, routing_node_limit=4, communication="analytic")
    dual = train(scenario, pipeline_schedule="dualpipe", **job)
    plain = train(scenario, virtual_stages=1, **job)
    assert dual.breakdown_s["exposed PP comm"] == dual.breakdown_s["exposed EP comm"] == 0.0
    assert plain.breakdown_s["exposed EP comm"] > 0
    assert dual.breakdown_s["pipeline bubble"] < plain.breakdown_s["pipeline bubble"] / 3
    assert dual.tokens_per_s_per_gpu > plain.tokens_per_s_per_gpu
    assert dual.recompute == "selective"  # the report's policy fits beside two copies of the weights
