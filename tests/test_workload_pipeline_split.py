"""The embedding and loss counted in Megatron-Core's pipeline split, the interleaved schedule's peak of
layers in flight, and primary FP8 weights: hand counts for Llama 3.1 405B as Megatron-Bridge's recipe runs it."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.memory import in_flight_chunks, in_flight_layers, schedule_chunks
from fabricsim.workload.parallelism import Parallelism
from fabricsim.workload.pipeline import stage_layout


def _model(name="llama3-405b"):
    return default_catalog().get("models", name)


def test_slots_take_a_layer_from_the_end_stages():
    # 126 layers + embedding + loss = 128 over 16 stages = 8 each; the end stages build 7
    layout = stage_layout(_model(), 16, embedding_slot=True, loss_slot=True)
    assert layout.layers == (7,) + (8,) * 14 + (7,)
    assert layout.chunk_layers(0, 4) == (1, 2, 2, 2)
    assert layout.chunk_layers(1, 4) == (2, 2, 2, 2)
    assert layout.chunk_layers(15, 4) == (2, 2, 2, 1)


def test_slots_need_an_even_split():
    with pytest.raises(FabricsimError, match="divide evenly"):
        stage_layout(_model(), 6, embedding_slot=True, loss_slot=True)  # 128 % 6 != 0
    with pytest.raises(FabricsimError, match="first_stage_layers"):
        stage_layout(_model(), 16, first=7, embedding_slot=True)


def test_schedule_table_is_megatrons():
    # megatron/core/pipeline_parallel/schedules.py comment: PP2 N3 M5 VP2 -> chunks 0 0 0 1 1 1 0 0 1 1
    assert list(schedule_chunks(5, 2, 3)) == [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]


def test_peak_layers_in_flight_by_hand():
    par = Parallelism(tp=4, pp=16, dp=4, virtual_stages=4, etp=4)
    # equal chunks: warm-up + 1 chunks, two layers each
    assert in_flight_chunks(par, 384, 1) == 2 * 14 + 3 * 16 + 1 == 77
    assert in_flight_layers(par, 384, 1, (2, 2, 2, 2)) == 77 * 2
    # stage 0: 79 forwards before the first backward: 16 + 15 micro-batches of chunk 0 (1 layer), 16 of each
    # other chunk (2 layers): 31 + 96 = 127; later the backwards free chunk 3 first, so the count stays below
    assert in_flight_layers(par, 384, 0, (1, 2, 2, 2)) == 31 * 1 + 48 * 2
    # last stage: 49 chunks in flight, but the peak comes after the first round's chunk-3 backwards, when
    # 17 of chunk 0 and 16 of chunks 1 and 2 (2 layers each) are held: 98, not 16*6 + 1 = 97
    assert in_flight_layers(par, 384, 15, (2, 2, 2, 1)) == 98


def _recipe(**extra):
    train_spec = dict(model="llama3-405b", tp=4, pp=16, cp=1, dp=4, global_batch=1536, micro_batch=1, seq=8192,
                      precision="fp8", gradient_reduce_bytes=2, software="megatron-core-2025", zero=1,
                      recompute="none", virtual_stages=4, embedding_in_pipeline_split=True,
                      loss_in_pipeline_split=True, fp8_weights=True)
    train_spec.update(extra)
    return train(scenario_from_dict({"cluster": {"gpu": "gb200", "gpus": 256}}), **train_spec)


def test_llama405b_gb200_recipe_memory_by_hand():
    use = _recipe().memory
    per_layer = 570_425_344 + 2_617_245_696  # attention (q, o 16384^2; k, v 16384 x 1024) + SwiGLU 3 x 16384 x 53248
    norms = 2 * 16384
    stage1 = 8 * (per_layer + norms) / 4  # parameters per GPU on stage 1, TP 4
    assert use.stage == 1
    assert use.weights == pytest.approx(8 * per_layer / 4 * 1 + 8 * norms / 4 * 2)  # FP8 linears, BF16 norms
    assert use.gradients == pytest.approx(2 * stage1)
    assert use.optimizer == pytest.approx(12 * stage1 / 4)
    # te-fp8 per token per layer with SP: 6 h / 4 + (2 (128 + 16) 128 + 2 x 128 x 128) / 4 + 5 x 53248 / 4
    per_token = 6 * 16384 / 4 + (2 * 144 * 128 + 2 * 128 * 128) / 4 + 5 * 53248 / 4
    assert use.activations == pytest.approx(154 * 8192 * per_token)
    assert use.fits and use.total == pytest.approx(179.19e9, rel=1e-3)


def test_fp8_weights_need_a_per_tensor_recipe():
    with pytest.raises(FabricsimError, match="fp8_weights"):
        _recipe(fp8_recipe="mxfp8")
