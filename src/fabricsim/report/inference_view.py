"""Table for ``fabricsim infer``."""

from __future__ import annotations

from rich.table import Table

from fabricsim.units import format_bytes


def inference_table(result) -> Table:
    table = Table(title=f"Serving {result.model}: {result.prefill_gpus} prefill + {result.decode_gpus} decode GPUs, "
                  f"batch {result.batch}, context {result.context:,}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("time to first token", f"{result.ttft_s * 1e3:,.1f} ms (prefill {result.prefill_s * 1e3:,.1f} ms, of "
                  f"which MoE all-to-all {result.prefill_a2a_s * 1e3:,.1f} ms, + "
                  f"KV hand-over {result.kv_transfer_s * 1e3:,.2f} ms of {format_bytes(result.kv_bytes_per_request)})")
    bound = "compute" if result.decode_compute_s >= result.decode_memory_s else "HBM"
    table.add_row("time per output token", f"{result.tpot_s * 1e3:,.2f} ms ({bound}-bound "
                  f"{max(result.decode_compute_s, result.decode_memory_s) * 1e3:,.2f} ms + TP all-reduce "
                  f"{result.decode_tp_s * 1e3:,.2f} ms + MoE all-to-all {result.decode_a2a_s * 1e3:,.2f} ms)")
    table.add_row("decode throughput", f"{result.decode_tokens_per_s:,.0f} tokens/s per decode instance")
    table.add_row("prefill instances per decode instance", f"{result.prefill_instances_per_decode:,.2f}")
    table.add_row("output tokens/s per GPU", f"{result.tokens_per_s_per_gpu:,.1f} (prefill and decode GPUs)")
    table.add_row("decode memory per GPU", format_bytes(result.decode_memory_bytes))
    return table
