"""``fabricsim train`` and ``fabricsim infer``: thin wrappers over :mod:`fabricsim.workload`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fabricsim.cli.common import (
    EvidenceOpt,
    JsonOpt,
    ScenarioArg,
    SetOpt,
    _print_json,
    app,
    console,
    err_console,
    nearest,
    print_evidence,
    user_errors,
)
from fabricsim.report.console import working
from fabricsim.report.documents import inference_document, training_document


@app.command()
@user_errors
def train(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    model: Optional[str] = typer.Option(None, "--model", help="catalog model, e.g. llama3-405b"),
    tp: Optional[int] = typer.Option(None, "--tp", help="tensor-parallel degree"),
    pp: Optional[int] = typer.Option(None, "--pp", help="pipeline stages"),
    cp: Optional[int] = typer.Option(None, "--cp", help="context-parallel degree"),
    dp: Optional[int] = typer.Option(None, "--dp", help="data-parallel degree (default: GPUs / (tp pp cp))"),
    ep: Optional[int] = typer.Option(None, "--ep", help="expert-parallel degree (MoE)"),
    vpp: Optional[int] = typer.Option(None, "--vpp", help="virtual pipeline stages (interleaved 1F1B)"),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="pipeline schedule: 1f1b or dualpipe (DeepSeek-V3's)"),
    gbs: Optional[int] = typer.Option(None, "--gbs", help="global batch, sequences"),
    seq: Optional[int] = typer.Option(None, "--seq", help="sequence length, tokens"),
    micro_batch: Optional[int] = typer.Option(None, "--micro-batch", help="sequences per micro-batch"),
    zero: Optional[int] = typer.Option(None, "--zero", help="ZeRO stage 0-3"),
    dp_shard: Optional[int] = typer.Option(None, "--dp-shard", help="with --zero 3: data-parallel ranks per shard group "
                                           "(hybrid sharding, HSDP); the groups replicate each other"),
    recompute: Optional[str] = typer.Option(None, "--recompute", help="auto, none, selective, full, per-op (torchtitan)"),
    recompute_layers: Optional[int] = typer.Option(None, "--recompute-layers", help="with full: layers per stage recomputed"),
    software: Optional[str] = typer.Option(None, "--software", help="software profile, e.g. megatron-core-2025, llama3-2024"),
    precision: Optional[str] = typer.Option(None, "--precision", help="bf16, fp8 or fp4 (NVFP4, Blackwell)"),
    lb: Optional[str] = typer.Option(None, "--lb", help="ecmp, spray, adaptive (per packet), flowlet (per flow), ideal (default: the fabric's)"),
    algo: Optional[str] = typer.Option(None, "--algo", help="DP collective algorithm: auto, ring, tree, hierarchical, in_network"),
    communication: Optional[str] = typer.Option(None, "--communication", help="auto, flow, analytic"),
    what_if: bool = typer.Option(False, "--what-if", help="also rerun with spraying, in-network reduction, 2:1 oversubscription"),
    evidence: bool = EvidenceOpt,
    search: bool = typer.Option(False, "--search", help="search TP/PP/CP/DP/EP, micro-batch and ZeRO (degrees given on the command line stay fixed)"),
    json_out: bool = JsonOpt,
) -> None:
    """One training step on the scenario's fabric: step time and its breakdown, tokens/s, MFU."""
    options = dict(locals())  # the command's parameters by option name, before any other local exists
    if search:
        return _search(scenario, set_, dict(model=model, global_batch=gbs, seq=seq, software=software,
                                            precision=precision),
                       dict(tp=tp, pp=pp, cp=cp, dp=dp, ep=ep, micro_batch=micro_batch, zero=zero), json_out)
    from fabricsim.commands import TRAIN_OPTIONS, api_keywords, train_and_what_ifs
    from fabricsim.report.training_view import training_tables
    from fabricsim.scenario import load_scenario
    from fabricsim.validation.evidence import document, training_evidence

    spec = load_scenario(scenario, set_)
    overrides = api_keywords(options, TRAIN_OPTIONS)
    with working(err_console, "training step") as stage:
        result, rows = train_and_what_ifs(spec, overrides, what_if, stage)
        found = nearest(evidence, stage, training_evidence, spec, overrides, result)
    if json_out:
        _print_json({**training_document(result), **({"what_ifs": rows} if rows else {}), **document(found)})
    else:
        console.print(training_tables(result, rows))
        print_evidence(found)


def _search(scenario, set_, job: dict, fixed: dict, json_out: bool) -> None:
    """``train --search``: rank the parallel layouts of the job (see fabricsim.explore.search)."""
    from fabricsim.explore.search import search_parallelism
    from fabricsim.report.search_view import search_tables
    from fabricsim.scenario import load_scenario

    spec = load_scenario(scenario, set_)
    job = {k: v for k, v in job.items() if v is not None}
    if job:
        spec = spec.model_copy(update={"workload": spec.workload.model_copy(update={
            "train": spec.workload.train.model_copy(update=job)})})
    with working(err_console, "parallelism search") as stage:
        result = search_parallelism(spec, fixed=fixed, progress=lambda i, n: stage(f"layout {i} of {n}"))
    if json_out:
        _print_json(result)
    else:
        console.print(search_tables(result))


@app.command()
@user_errors
def infer(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    model: Optional[str] = typer.Option(None, "--model", help="catalog model, e.g. deepseek-v3"),
    prefill_gpus: Optional[int] = typer.Option(None, "--prefill-gpus", help="GPUs of one prefill instance"),
    decode_gpus: Optional[int] = typer.Option(None, "--decode-gpus", help="GPUs of one decode instance"),
    tp: Optional[int] = typer.Option(None, "--tp", help="attention tensor-parallel degree"),
    pp: Optional[int] = typer.Option(None, "--pp", help="pipeline stages of a static instance (tp x pp GPUs)"),
    ep: Optional[int] = typer.Option(None, "--ep", help="expert-parallel degree of decode"),
    batch: Optional[int] = typer.Option(None, "--batch", help="sequences decoded together"),
    context: Optional[int] = typer.Option(None, "--context", help="prompt tokens per request"),
    output_tokens: Optional[int] = typer.Option(None, "--output-tokens", help="generated tokens per request"),
    context_cv: Optional[float] = typer.Option(None, "--context-cv", help="spread of prompt lengths: standard "
                                               "deviation / mean (default 0: all equal)"),
    output_tokens_cv: Optional[float] = typer.Option(None, "--output-tokens-cv", help="spread of output lengths: "
                                                     "standard deviation / mean (default 0: all equal)"),
    requests: Optional[int] = typer.Option(None, "--requests", help="requests a finite benchmark serves in all, batch "
                                           "in flight at a time (trtllm-bench, MLPerf Offline): the run's throughput"),
    lb: Optional[str] = typer.Option(None, "--lb", help="ecmp, spray, adaptive (per packet), flowlet (per flow), ideal"),
    mode: Optional[str] = typer.Option(None, "--mode", help="disaggregated or static (one batch on tp GPUs)"),
    software: Optional[str] = typer.Option(None, "--software", help="software profile, e.g. serving-2025"),
    evidence: bool = EvidenceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Serving: disaggregated (KV-cache hand-over, decode with MoE all-to-all) or a static batch: TTFT, TPOT, tokens/s/GPU."""
    options = dict(locals())  # the command's parameters by option name, before any other local exists
    from fabricsim.commands import INFER_OPTIONS, api_keywords, infer_deployment
    from fabricsim.report.inference_view import inference_table
    from fabricsim.scenario import load_scenario
    from fabricsim.validation.evidence import document, inference_evidence

    spec = load_scenario(scenario, set_)
    overrides = api_keywords(options, INFER_OPTIONS)
    with working(err_console, "serving") as stage:
        result, chosen, note = infer_deployment(spec, overrides)
        found = nearest(evidence, stage, inference_evidence, spec, chosen)
    if json_out:
        _print_json({**inference_document(result), **({"note": note} if note else {}), **document(found)})
    else:
        console.print(inference_table(result))
        if note:
            console.print(f"note: {note}")
        print_evidence(found)

