"""The ``workload:`` section of a scenario: a training job and an inference deployment.

Both are defaulted (Llama 3 405B as its paper trained it; DeepSeek-V3 served disaggregated), so
a scenario without a workload section still has a step time.  Sizes are in sequences and tokens;
everything else in SI units.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainSpec(_Strict):
    """One training step: model, parallel degrees, batch, and how it is run."""

    model: str = Field("llama3-405b", description="catalog name of the model (`fabricsim catalog list models`)")
    tp: int = Field(8, ge=1, description="tensor-parallel degree (inside the scale-up domain)")
    pp: int = Field(16, ge=1, description="pipeline-parallel stages")
    cp: int = Field(1, ge=1, description="context-parallel degree (sequence split for attention)")
    dp: int | None = Field(None, ge=1, description="data-parallel degree; default: GPUs / (tp x pp x cp)")
    ep: int = Field(1, ge=1, description="expert-parallel degree (MoE models), folded into dp x cp")
    virtual_stages: int | None = Field(
        None, ge=1, description="interleaved 1F1B: model chunks per pipeline stage; default: one layer per chunk "
        "where the micro-batch count allows (smallest bubble), else 1")
    global_batch: int = Field(2048, ge=1, description="sequences per optimizer step")
    seq: int = Field(8192, ge=1, description="tokens per sequence")
    micro_batch: int = Field(1, ge=1, description="sequences per micro-batch")
    zero: Literal[0, 1, 2, 3] = Field(1, description="ZeRO stage / FSDP: 0 none, 1 optimizer, 2 +grads, 3 +weights")
    sequence_parallel: bool = Field(True, description="Megatron sequence parallelism with TP")
    recompute: Literal["auto", "none", "selective", "full"] = Field(
        "auto", description="activation recomputation; auto = the least that fits HBM")
    precision: Literal["bf16", "fp8"] = Field("bf16", description="GEMM precision (MFU is against BF16 peak)")
    gradient_reduce_bytes: Literal[2, 4] = Field(
        4, description="bytes per gradient element reduced across DP (Llama 3 paper 3.3.2, numerical stability: FP32 reduce-scatter)")
    tp_comm_overlap: float = Field(
        0.0, ge=0, le=1, description="share of TP communication hidden behind GEMMs (0: Megatron default)")
    ep_comm_overlap: float = Field(
        0.0, ge=0, le=1, description="share of MoE all-to-all hidden behind compute (DualPipe-style overlap)")
    dp_overlap: bool = Field(True, description="DP gradient reduce / parameter gather overlapped with compute")
    order: str = Field("tp-cp-pp-dp", description="rank order, fastest first (Llama 3 paper 3.3.2: [TP, CP, PP, DP])")
    placement: Literal["contiguous", "random-servers"] = Field("contiguous", description="ranks onto servers")
    algorithm: str = Field("auto", description="DP all-reduce / reduce-scatter algorithm (auto: fastest)")
    load_balancing: Literal["ecmp", "spray", "adaptive", "flowlet", "ideal"] | None = Field(
        None, description="default: the fabric's")
    communication: Literal["auto", "flow", "analytic"] = Field(
        "auto", description="flow-level simulation, analytic alpha-beta, or auto (flow up to 131,072 GPUs)")
    attention_efficiency: float = Field(
        0.35, gt=0, le=1, description="share of BF16 peak flash attention sustains (FlashAttention-2 on H100: "
        "0.35, Shah et al. 2024; FlashAttention-3: up to 0.75)")
    jitter_s: float = Field(0.0, ge=0, description="per-step compute jitter of one GPU, std. dev. in seconds")


class InferSpec(_Strict):
    """Disaggregated serving: prefill GPUs hand KV caches to decode GPUs over the fabric."""

    model: str = Field("deepseek-v3", description="catalog name of the model")
    prefill_gpus: int = Field(32, ge=1, description="GPUs of one prefill instance")
    decode_gpus: int = Field(64, ge=1, description="GPUs of one decode instance")
    tp: int = Field(1, ge=1, description="tensor-parallel degree of attention in decode and prefill")
    ep: int | None = Field(None, ge=1, description="expert-parallel degree of decode; default: decode_gpus")
    batch: int = Field(256, ge=1, description="sequences decoded together per decode instance")
    context: int = Field(8192, ge=1, description="prompt tokens per request")
    output_tokens: int = Field(1024, ge=1, description="generated tokens per request")
    weight_bytes: Literal[1, 2] = Field(1, description="bytes per weight (1 = FP8, 2 = BF16)")
    kv_bytes: Literal[1, 2] = Field(2, description="bytes per KV-cache element")
    load_balancing: Literal["ecmp", "spray", "adaptive", "flowlet", "ideal"] | None = None


class WorkloadSpec(_Strict):
    train: TrainSpec = Field(default_factory=TrainSpec)
    infer: InferSpec = Field(default_factory=InferSpec)
