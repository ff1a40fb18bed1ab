"""Table for ``fabricsim infer``."""

from __future__ import annotations

from rich.table import Table

from fabricsim.report.console import key_value_table
from fabricsim.units import format_bytes


def inference_table(result) -> Table:
    static = result.mode == "static"
    title = (f"Serving {result.model}: static batch {result.batch} on {result.decode_gpus} GPUs, "
             f"{result.context:,} in / {result.output_tokens:,} out" if static else
             f"Serving {result.model}: {result.prefill_gpus} prefill + {result.decode_gpus} decode GPUs, "
             f"batch {result.batch}, context {result.context:,}")
    table = key_value_table(title)
    if static:
        table.add_row("prefill of the batch", f"{result.prefill_s * 1e3:,.1f} ms ({result.prefill_tokens:,.0f} prompt tokens)")
    else:
        table.add_row("time to first token", f"{result.ttft_s * 1e3:,.1f} ms (prefill {result.prefill_s * 1e3:,.1f} ms, of "
                      f"which MoE all-to-all {result.prefill_a2a_s * 1e3:,.1f} ms, + "
                      f"KV hand-over {result.kv_transfer_s * 1e3:,.2f} ms of {format_bytes(result.kv_bytes_per_request)})")
    table.add_row("time per output token", f"{result.tpot_s * 1e3:,.2f} ms (forward pass {result.decode_compute_s * 1e3:,.2f} ms, "
                  f"of which KV-cache reads {result.decode_memory_s * 1e3:,.2f} ms; + TP all-reduce "
                  f"{result.decode_tp_s * 1e3:,.2f} ms + exposed MoE all-to-all {result.decode_a2a_s * 1e3:,.2f} ms)")
    if result.decode_context:
        how = ("averaged over the run's decode steps: long requests take part in more of them" if result.lengths_vary
               else "the prompt and half the output")
        table.add_row("KV cache a decode step reads", f"{result.decode_context:,.0f} tokens per sequence ({how})")
    if result.pp > 1:
        table.add_row("pipeline", f"{result.pp} stages of {result.decode_gpus // result.pp} GPUs, {result.pp} micro-batches "
                      f"of {result.batch / result.pp:,.1f} sequences in flight; per cycle: slowest stage "
                      f"{result.decode_stage_s * 1e3:,.2f} ms per micro-batch x {result.pp}, stage-to-stage sends "
                      f"{result.decode_p2p_s * 1e3:,.3f} ms per trip")
    if result.local_experts:
        table.add_row("MoE experts read per decode step", f"{result.decode_active_experts:,.1f} of {result.local_experts:,.0f} "
                      "per GPU and layer (the experts the step's tokens reach; the rest stay unread)")
    table.add_row("decode throughput", f"{result.decode_tokens_per_s:,.0f} tokens/s per decode instance")
    if not static:
        table.add_row("prefill instances per decode instance", f"{result.prefill_instances_per_decode:,.2f}")
        table.add_row("prefill throughput", f"{result.prefill_tokens_per_s_per_gpu:,.0f} prompt tokens/s per prefill GPU")
    if result.requests and result.lengths_vary:
        table.add_row("the whole run", f"{result.requests:,} requests of varying lengths, {result.batch:,} in flight: "
                      f"{result.run_s:,.1f} s, {result.run_steady_s / result.run_s:.0%} of the full batch's rate (the "
                      "batch empties while the longest requests finish)"
                      + (f"; half the requests done at {result.run_half_done_s:,.1f} s, nine tenths at "
                         f"{result.run_nine_tenths_done_s:,.1f} s" if result.run_nine_tenths_done_s else ""))
    elif result.requests:
        waves, last = divmod(result.requests, result.batch)
        table.add_row("the whole run", f"{result.requests:,} requests in {waves} wave{'s' * (waves != 1)} of {result.batch}"
                      + (f" and one of {last}" if last else "") + f": {result.run_s:,.1f} s")
    where = " over the whole run" if result.requests else "" if static else " (prefill and decode GPUs)"
    if result.weights:
        table.add_row("weights", result.weights)
    table.add_row("output tokens/s per GPU", f"{result.tokens_per_s_per_gpu:,.1f}{where}")
    table.add_row("decode memory per GPU", format_bytes(result.decode_memory_bytes))
    return table
