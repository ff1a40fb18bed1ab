"""Schema of software profiles (section ``software`` in ``software.yaml``): how a training stack of one
era runs the same model -- which attention kernel, which elementwise work, what it overlaps.

A profile holds no speed: it says which kernels run, and the GPU's per-generation figures
(``gpus.yaml``) say how fast those kernels are.  Figures are seconds, bytes and counts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fabricsim.catalog.schema import Entry

Fp8Recipe = Literal["delayed", "tensorwise", "mxfp8", "blockwise"]
"""Megatron ``fp8_recipe`` values: how FP8 GEMM inputs are scaled."""

OptimizerPrecision = Literal["fp32", "bf16-moments", "bf16"]
"""Precision of Adam's state (master copy and moments): :mod:`fabricsim.workload.optimizer_states`."""

Architecture = Literal["volta", "ampere", "hopper", "blackwell", "rubin", "other"]
"""GPU architecture generations (catalog ``Gpu.architecture``)."""

CudaGraphPart = Literal["attn", "moe_router", "moe_preprocess"]
"""Megatron-Core ``cuda_graph_scope`` parts (with ``cuda_graph_impl=transformer_engine``) that fabricsim
models: the attention block, the MoE router (with the pre-MLP norm and unoverlapped shared experts), the
MoE dispatcher's preprocessing (token counts, splits, first permutation)."""


class SoftwareProfile(Entry):
    """A training/serving software stack of one era (framework, kernels, overlap defaults)."""

    extends: str | None = Field(None, description=(
        "profile this one was derived from (its fields, with the ones listed here changed; catalog.inherit)"))
    attention: Literal["materialized", "flash1", "flash2", "flex", "native"] = Field(
        description="materialized: scores written to HBM (batched GEMMs + softmax/dropout kernels, pre-2022); "
        "flash1: FlashAttention (v1 algorithm, 2022: the CUDA kernel or Tri Dao's Triton port); "
        "flash2: FlashAttention-2; flex: PyTorch FlexAttention (Triton kernels torch.compile generates from a mask "
        "and score modification); native: the GPU generation's own fused kernel (FA3 / cuDNN)")
    dropout: bool = Field(description="hidden and attention dropout on (GPT-era Megatron default 0.1)")
    dp_overlap: bool = Field(description="data-parallel gradient reduction / parameter gather overlapped with "
                             "backward / forward (Megatron-Core overlap_grad_reduce, FSDP prefetch)")
    tp_comm_overlap: bool = Field(description="tensor-parallel all-gather / reduce-scatter split into chunks and "
                                  "overlapped with the GEMMs that consume/produce them (Transformer Engine userbuffers)")
    kernel_efficiency: float = Field(
        1.0, gt=0, le=1, description="GEMM and attention throughput of this stack's libraries (cuBLAS, CUDA, "
        "PyTorch of the era) relative to the ones the GPU's MAMF was measured with")
    kernel_overhead_s: float = Field(ge=0, description="GPU idle time per kernel launch (launch latency and "
                                     "ramp/tail not hidden by the queue), seconds")
    cuda_graphs: bool = Field(False, description="layers captured as CUDA graphs (launch cost per graph, not per kernel)")
    graph_node_s: dict[Architecture, float] = Field(
        default_factory=dict, description="GPU idle time per kernel node after the first inside a CUDA graph replay "
        "(the gap between consecutive captured kernels), seconds, by GPU architecture; an architecture missing "
        "here costs kernel_overhead_s per node (a graph taken as no cheaper than eager launches)")
    cuda_graph_scope: list[CudaGraphPart] = Field(
        default_factory=list, max_length=3, description="without whole-layer graphs: the parts of each layer "
        "Transformer Engine captures as one CUDA graph (Megatron-Core cuda_graph_scope): attn, moe_router, "
        "moe_preprocess (only with moe_router); the captured kernels cost one launch per pass instead of one each")
    host_s_per_kernel: float = Field(
        0.0, ge=0, description="host (CPU) time to issue one kernel from eager PyTorch: Python, autograd and "
        "dispatcher work per op; hidden while the CPU runs ahead of the GPU, exposed after a host synchronization")
    moe_layer_host_s: float = Field(
        0.0, ge=0, description="extra host time of one MoE layer's forward beyond its counted kernels, in the part "
        "no recipe captures in CUDA graphs (dispatch after the host synchronization, expert and combine "
        "bookkeeping), seconds; the backward takes twice as long")
    step_host_s: float = Field(
        0.0, ge=0, description="seconds per optimizer step the GPUs wait on the host's training loop between one "
        "step's last kernel and the next step's first (the step's loss read, a device synchronization; logging and "
        "timers; the optimizer's and the next step's launches); paid once per step, so it shows where a step holds "
        "few micro-batches")
    moe_host_sync: bool = Field(
        False, description="dropless MoE copies each layer's per-expert token counts to the host before its "
        "all-to-all, so the CPU cannot run ahead of that layer (the layer takes max(GPU, host) time)")
    comm_sms: int = Field(ge=0, description="SMs a communication kernel occupies while it overlaps compute "
                          "(NCCL channels / userbuffers SMs); compute slows by comm_sms / sm_count meanwhile")
    gemm_sm_carveout: bool = Field(False, description="the stack launches its GEMMs on the SMs a concurrent collective "
                                   "leaves (PyTorch torch._C._set_sm_carveout_experimental, Transformer Engine "
                                   "NVTE_EXT_MARGIN_SM), so persistent GEMMs pay only the SM share while it runs")
    fp8_cast_bytes_per_element: float = Field(
        ge=0, description="HBM bytes per GEMM-input element to quantize it to FP8 (read BF16, write FP8 and its "
        "transposed copy for the weight gradient, plus an amax pass for current scaling)")
    fp8_recipe: Fp8Recipe = Field(
        "delayed", description="FP8 scaling recipe of the stack's FP8 runs (Megatron fp8_recipe): delayed (amax "
        "history), tensorwise (per-tensor current scaling: an amax and a scale kernel before each cast), mxfp8 / "
        "blockwise (block scales computed in the cast kernel)")
    fsdp_pipeline_unsharded: bool = Field(
        False, description="with ZeRO-3 and pipeline stages, FSDP keeps a stage's gathered weights and unreduced "
        "gradients through the whole schedule (FSDP2 reshard_after_forward off when pipelining, and "
        "torch.distributed.pipelining's backward_maybe_with_nosync neither resharding nor reducing before the "
        "last backward): weights gathered and gradients reduce-scattered once per step, as ZeRO-1")
    optimizer_states: OptimizerPrecision = Field(
        "fp32", description="precision of Adam's state: fp32 (FP32 master copy and moments, 12 bytes per "
        "parameter), bf16-moments (FP32 master, BF16 moments: 8), bf16 (BF16 weights updated in place, BF16 "
        "moments: 4, gradients held in BF16): fabricsim.workload.optimizer_states")
    expert_gemm_streams: int | None = Field(
        None, ge=1, description="routed experts run as one GEMM per local expert spread over this many CUDA streams, "
        "each expert quantized and handed its gradient separately (Transformer Engine 2.x GroupedLinear: 4); None: "
        "one grouped kernel for all local experts (CUTLASS / DeepGEMM grouped GEMM)")
    activation_storage: Literal["bf16", "fp8", "te-fp8"] = Field(
        "bf16", description="how FP8 runs keep the inputs of linear layers for their weight gradient: bf16, fp8 "
        "(DeepSeek-V3 report 3.3.2: cached in FP8 with fine-grained scales, the attention output in E5M6, the "
        "SwiGLU inputs of MoE experts in FP8 too), or te-fp8 (Transformer Engine: each linear keeps the FP8 cast "
        "of its input; attention output and SwiGLU input stay BF16); BF16 runs keep BF16")
    recompute_mla_up_projection: bool = Field(
        False, description="selective recomputation also rebuilds MLA's queries, keys and values from the cached "
        "latents (DeepSeek-V3 report 3.2.3; Megatron-Core recompute_modules 'mla_up_proj') instead of keeping them")
    elementwise: Literal["fused", "eager", "eager-fused-norm"] = Field(
        "fused", description="how a layer's norms, rotary embedding and activation run: fused (one kernel each: "
        "Transformer Engine, Apex, Triton, torch.compile) or eager (PyTorch op by op, the reference Llama code's "
        "FP32 RMSNorm chain and complex rotary: fabricsim.workload.elementwise), or eager-fused-norm (eager with a "
        "fused norm kernel)")
    fused_norm_cast: bool = Field(False, description="norm kernels write FP8 GEMM inputs directly (no separate cast)")
    fused_rope_unit_scale_only: bool = Field(False, description="the fused RoPE kernel takes no attention scale: a "
                                             "model whose RoPE scales cos and sin (YaRN, rope_attention_scale != 1) "
                                             "runs the framework's unfused rotary op by op")
    context_parallel: Literal["allgather", "pytorch-ring"] = Field(
        "allgather", description="how context parallelism exchanges keys and values: allgather (the Llama 3 paper's: "
        "one K/V all-gather per layer forward, one dK/dV reduce-scatter backward) or pytorch-ring (PyTorch's 2024 "
        "experimental ring attention: one SDPA call per CP rank merged in FP32, K/V all-gathered in every forward "
        "and backward, FP32 dK/dV handed rank to rank at every backward step: fabricsim.workload.ring_attention)")
    attention_kv_expanded: bool = Field(
        False, description="grouped-query keys and values are repeated to every query head before the attention "
        "call (torchtitan repeat_kv), so the attention kernel and context parallelism see as many K/V heads as "
        "query heads")
    fused_attention_sinks: bool = Field(
        True, description="the fused attention kernel supports learned attention sinks; if not, models with sinks "
        "run the unfused (materialized) attention path")
    context_layer_s: float = Field(
        0.0, ge=0, description="GPU idle seconds per layer of a prompt (context) pass that do not overlap its "
        "kernels: the engine's per-layer work in a context phase run without CUDA graphs")
    iteration_layer_s: float = Field(
        0.0, ge=0, description="GPU idle seconds per layer of every forward pass -- a decode step, a prompt pass, or "
        "an in-flight-batching iteration holding both -- beyond the counted kernels' launch gaps: the per-layer work "
        "of a TensorRT engine enqueued without CUDA graphs and driven by an executor that prepares each iteration "
        "after the last one finished (no overlap scheduler)")
    fp8_context_attention: bool = Field(
        False, description="with FP8 weights and an FP8 KV cache, prompt (context) attention runs the fused FP8 "
        "multi-head attention kernel (TensorRT-LLM use_fp8_context_fmha), at the GPU's FP8 attention rate "
        "(catalog attention_efficiency '<kernel>-fp8'; the BF16 rate where the GPU has none)")
    decode_kv_per_query_head: bool = Field(
        False, description="the decode attention kernel reads a grouped-query KV head once per query head that "
        "shares it (no GQA sharing), multiplying KV-cache traffic by heads / kv_heads")
    decode_graph_batch_sizes: list[int] = Field(
        default_factory=list, description="generation-only decode steps replay CUDA graphs captured at these batch "
        "sizes, a smaller batch padded up to the next one with dummy requests that cost GEMM rows but no attention "
        "(TensorRT-LLM PyTorch backend cuda_graph_config enable_padding; the sizes kept are those within the "
        "executor limits trtllm-bench sets: fabricsim.workload.trtllm_bench); [] = decode runs at its own batch")
    fp8_output_head: bool = Field(
        True, description="in FP8 inference the output head (LM head) GEMM runs in FP8 too; false: the FP8 "
        "checkpoint keeps it in BF16 (only the linear layers inside the transformer blocks quantized)")
    zero3_prefetch_elements: float | None = Field(
        None, gt=0, description="ZeRO-3 / FSDP: parameter elements gathered ahead of the layer that needs them "
        "(DeepSpeed stage3_prefetch_bucket_size); None = the whole next layer (FSDP2 / Megatron-FSDP prefetch)")
    zero3_coordinator: bool = Field(
        False, description="ZeRO-3 runs DeepSpeed's 2021 stage-3 coordinator: module by module, a device "
        "synchronization at every fetch, list-based collectives costing host work per rank "
        "(fabricsim.workload.zero3_fetch); false: whole layers prefetched with the CPU running ahead (FSDP)")
    zero3_persistence_threshold: float = Field(
        0.0, ge=0, description="ZeRO-3 (coordinator): parameters with fewer elements stay whole on every rank, never "
        "gathered (DeepSpeed stage3_param_persistence_threshold)")
    zero3_max_live_elements: float | None = Field(
        None, gt=0, description="ZeRO-3 (coordinator): no prefetch while this many parameter elements are "
        "gathered (DeepSpeed stage3_max_live_parameters); None: no limit")
    zero3_max_reuse_distance: float = Field(
        0.0, ge=0, description="ZeRO-3 (coordinator): a module's weights stay gathered if it is used again within "
        "this many parameter elements (DeepSpeed stage3_max_reuse_distance)")
    zero3_host_s_per_call: float = Field(
        0.0, ge=0, description="ZeRO-3 (coordinator): host seconds of one gather or reduce-scatter besides its "
        "per-rank work (hooks, allocation, launch)")
    zero3_host_s_per_rank: float = Field(
        0.0, ge=0, description="ZeRO-3 (coordinator): host seconds per rank of one list-based collective (a view "
        "built in Python, a copy launched by the process group)")
    zero3_regather_for_recompute: bool = Field(
        False, description="ZeRO-3 releases gathered weights after each forward, so a recomputed forward gathers "
        "them again before the backward gathers them once more")
    pp_comm_overlap: bool = Field(
        False, description="interleaved pipeline schedules (virtual stages > 1) send and receive a model chunk's "
        "activations and gradients while the next chunk computes (Megatron-Core overlap_p2p_comm); only what exceeds "
        "the compute waits")
    zero3_flat_buffer_copies: bool = Field(
        False, description="ZeRO-3 gathers and reduces each layer's parameters as one flat buffer (one collective per "
        "layer, FSDP2's per-block unit) copied on the compute stream: every gathered parameter copied out (read and "
        "write, BF16), every gradient copied in to the reduce dtype (FSDP2 foreach_all_gather_copy_out / "
        "foreach_reduce_scatter_copy_in)")

    def graph_node_seconds(self, architecture: str) -> float:
        """GPU idle seconds per captured kernel after a graph's first on this GPU architecture
        (``graph_node_s``; ``kernel_overhead_s`` where the profile gives none for it)."""
        return self.graph_node_s.get(architecture, self.kernel_overhead_s)
