"""The ``workload:`` section of a scenario: a training job and an inference deployment.

Both are defaulted (Llama 3 405B as its paper trained it; DeepSeek-V3 served disaggregated), so
a scenario without a workload section still has a step time.  Sizes are in sequences and tokens;
everything else in SI units.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fabricsim.catalog.software_schema import CudaGraphPart, Fp8Recipe, OptimizerPrecision
from fabricsim.scenario_base import Strict as _Strict

MAX_DEGREE = 10_000_000
"""Largest parallel degree or GPU count (the scenario's cluster.gpus bound)."""

RECOMPUTE_MODULES = ("core_attn", "moe_act", "layernorm", "mla_up_proj", "mlp", "moe", "shared_experts")
"""Megatron-Core's recompute_modules choices (megatron/core/transformer/transformer_config.py at b0cc2706);
what each frees and reruns: :mod:`fabricsim.workload.recompute_modules`."""

MAX_TOKENS = 2**30
"""Longest sequence, context or output accepted (~1 billion tokens)."""


class TrainSpec(_Strict):
    """One training step: model, parallel degrees, batch, and how it is run."""

    model: str = Field("llama3-405b", description="catalog name of the model (`fabricsim catalog list models`)")
    tp: int = Field(8, ge=1, le=MAX_DEGREE, description="tensor-parallel degree (inside the scale-up domain)")
    pp: int = Field(16, ge=1, le=MAX_DEGREE, description="pipeline-parallel stages")
    cp: int = Field(1, ge=1, le=MAX_DEGREE, description="context-parallel degree (sequence split for attention)")
    dp: int | None = Field(None, ge=1, le=MAX_DEGREE, description="data-parallel degree; default: GPUs / (tp x pp x cp)")
    ep: int = Field(1, ge=1, le=MAX_DEGREE, description="expert-parallel degree (MoE models), folded into dp x cp")
    virtual_stages: int | None = Field(
        None, ge=1, le=100_000, description="interleaved 1F1B: model chunks per pipeline stage; default: one layer per chunk "
        "where the micro-batch count allows (smallest bubble), else 1")
    pipeline_schedule: Literal["1f1b", "dualpipe"] = Field(
        "1f1b", description="pipeline schedule: 1f1b (Megatron's; interleaved with virtual_stages) or dualpipe "
        "(DeepSeek-V3's bidirectional schedule: rank r holds stages r and pp-1-r, bubble (pp/2-1)(F&B+B-3W), "
        "all-to-all and pipeline sends hidden under paired forward/backward chunks)")
    pipeline_group: int | None = Field(
        None, ge=1, le=10**9, description="interleaved schedule: micro-batches per round (Megatron "
        "microbatch_group_size_per_vp_stage, the Llama 3 paper's N); fewer in flight, less activation memory; "
        "default pp")
    pipeline_flushes: int = Field(
        1, ge=1, le=10**6, description="pipeline schedules (each a fill and a drain) per optimizer step: "
        "torch.distributed.pipelining runs one schedule per local batch and accumulates gradients over several "
        "(gradient accumulation: NeMo AutoModel, torchtitan), paying the bubble each time; Megatron runs every "
        "micro-batch of the step in one schedule (1)")
    global_batch: int = Field(2048, ge=1, le=10**9, description="sequences per optimizer step")
    seq: int = Field(8192, ge=1, le=MAX_TOKENS, description="tokens per sequence")
    micro_batch: int = Field(1, ge=1, le=10**9, description="sequences per micro-batch")
    zero: Literal[0, 1, 2, 3] = Field(1, description="ZeRO stage / FSDP: 0 none, 1 optimizer, 2 +grads, 3 +weights")
    dp_shard: int | None = Field(
        None, ge=1, le=MAX_DEGREE, description="hybrid sharding (HSDP: PyTorch FSDP HYBRID_SHARD, torchtitan "
        "data_parallel_shard_degree): the data-parallel ranks one ZeRO-3 shard group spans; the dp / dp_shard groups "
        "replicate each other and all-reduce their gradient shards; None: all dp ranks (FULL_SHARD)")
    sequence_parallel: bool = Field(True, description="Megatron sequence parallelism with TP")
    recompute: Literal["auto", "none", "selective", "full", "per-op"] = Field(
        "auto", description="activation recomputation; auto = the least that fits HBM (none, selective, full on "
        "1, 2, ... layers per stage, full); per-op = torchtitan's per-op selective policy (every second matmul "
        "and every elementwise op recomputed)")
    recompute_layers: int | None = Field(
        None, ge=1, le=100_000, description="with recompute full: layers per pipeline stage recomputed (Megatron "
        "recompute_num_layers); default all")
    recompute_modules: list[str] | None = Field(
        None, max_length=7, description="Megatron-Core selective recomputation by module (recompute_modules with "
        "recompute_granularity selective): any of core_attn, moe_act, layernorm, mla_up_proj, mlp, moe, "
        "shared_experts; implies recompute selective (an empty list recomputes nothing); default: fabricsim's "
        "selective set (norms and activation functions) when recompute is selective")
    activation_offload_layers: int | None = Field(
        None, ge=1, le=100_000, description="Megatron-Core CPU offloading (cpu_offloading_num_layers): the activations "
        "of the model's first this-many layers go to host memory during the forward and come back for the backward, "
        "overlapped with compute on Transformer Engine's schedule; pp 1, no recomputation, no CUDA graphs")
    first_stage_layers: int | None = Field(
        None, ge=1, le=100_000, description="layers on the first pipeline stage (Megatron decoder_first_pipeline_num_layers; "
        "Llama 3 removed one to make room for the embedding); default an even split")
    last_stage_layers: int | None = Field(
        None, ge=1, le=100_000, description="layers on the last pipeline stage (room for the output head and loss)")
    embedding_in_pipeline_split: bool = Field(
        False, description="the input embedding counts as one layer when the decoder's layers are split over the "
        "pipeline (Megatron-Core account_for_embedding_in_pipeline_split): layers + slots split evenly over stages "
        "and model chunks, the first chunk of the first stage holds one layer fewer")
    loss_in_pipeline_split: bool = Field(
        False, description="the output head and loss count as one layer in the split (Megatron-Core "
        "account_for_loss_in_pipeline_split): the last chunk of the last stage holds one layer fewer")
    mtp: int | None = Field(
        None, ge=0, le=100, description="multi-token-prediction modules trained, on the last pipeline stage; default "
        "the model's (catalog mtp_modules; DeepSeek-V3: 1), 0 to leave them out")
    software: str = Field(
        "megatron-core-2025", max_length=100, description="software profile (catalog section 'software'): attention kernel, "
        "dropout, overlap defaults of a training stack's era")
    expert_tp: int | None = Field(
        None, ge=1, le=MAX_DEGREE, description="expert tensor parallelism (Megatron expert_tensor_parallel_size); default tp")
    routing_imbalance: float = Field(
        1.0, ge=1, le=1e6, description="token copies on the busiest GPU's experts / the mean (1.0: forced balance, as in "
        "Megatron-Bridge benchmarks)")
    routing_node_limit: int | None = Field(
        None, ge=1, le=MAX_DEGREE, description="node-limited routing: each token goes to experts on at most this many nodes and "
        "crosses the network once per node (DeepSeek-V3: 4); default: one copy per routed expert")
    routing: Literal["random", "contiguous"] = Field(
        "random", description="which experts a token picks when benchmarks force the balance: random (Megatron-Core's "
        "moe_router_force_load_balancing draws random logits: a token's k experts spread over the EP ranks) or "
        "contiguous (NeMo AutoModel's FakeBalancedGate: token t takes experts tk .. tk + k - 1, which sit on one or "
        "two ranks, so the flex dispatchers send one or two copies); the expert load is balanced either way")
    moe_dispatcher: Literal["alltoall", "deepep", "hybridep"] | None = Field(
        None, description="MoE token dispatcher: alltoall sends one copy per routed expert; deepep / hybridep (Megatron-Core "
        "flex dispatcher) one per target GPU inside a node and one per target node across nodes, forwarded over NVLink; "
        "default deepep with routing_node_limit, else alltoall")
    moe_capacity_factor: float | None = Field(
        None, gt=0, le=1e6, description="token-drop MoE (Megatron-Core moe_expert_capacity_factor): each expert takes at "
        "most ceil(capacity_factor x local tokens x k / experts) tokens from each rank, the rest are dropped; default "
        "None: dropless. All-to-all dispatcher only")
    moe_pad_to_capacity: bool = Field(
        False, description="with moe_capacity_factor: every expert's input padded to its capacity (Megatron-Core "
        "moe_pad_expert_input_to_capacity): fixed shapes, no device-host synchronization per MoE layer")
    cuda_graphs: bool | None = Field(
        None, description="every transformer layer captured as a CUDA graph (Megatron-Core enable_cuda_graph, the "
        "local implementation, scope 'full'); MoE layers only when token-drop pads to capacity; default: the "
        "software profile's")
    cuda_graph_full_iteration: bool = Field(
        False, description="one CUDA graph for the whole forward-backward of every micro-batch (Megatron-Core "
        "cuda_graph_impl full_iteration, optimizer step outside): no per-kernel host issue, every kernel a graph node; "
        "a dropless MoE must be sync-free (moe_expert_rank_capacity_factor) or padded token-drop")
    moe_expert_rank_capacity_factor: float | None = Field(
        None, ge=1, le=1e3, description="HybridEP static receive buffer per EP rank, in routed token copies per mean "
        "(Megatron-Core moe_expert_rank_capacity_factor; Megatron-Bridge 26.06 recipes 1.5): fixed shapes, the dropless "
        "dispatch needs no device-to-host token count (sync-free); hybridep dispatcher only")
    moe_fused_grouped_mlp: bool = Field(
        False, description="routed experts as Transformer Engine's fused grouped MLP (Megatron-Bridge "
        "cutedsl_fused_grouped_mlp: use_transformer_engine_op_fuser, CuTe-DSL grouped GEMMs with the GLU activation, "
        "probability weighting and MXFP8 quantization in their epilogues); MXFP8 on Blackwell, expert_tp 1, SwiGLU")
    fp8_attention: bool = Field(
        False, description="attention core in FP8 through cuDNN (Megatron/Transformer Engine fp8_dot_product_attention): "
        "the GPU's measured FP8 attention rate, Q/K/V and dO quantized; precision fp8 only")
    fp8_output_head: bool = Field(
        False, description="the output head (LM head) in MXFP8 too (Megatron-Core fp8_output_proj: Transformer "
        "Engine's TELMHeadColumnParallelLinear, forward, data- and weight-gradient GEMMs at the FP8 rate, its input "
        "and the logits' gradient quantized); default false: Megatron-Core's own BF16 ColumnParallelLinear; "
        "precision fp8 with fp8_recipe mxfp8 only")
    ep_dispatcher_sms: int | None = Field(
        None, ge=1, le=100_000, description="SMs the expert dispatcher's kernels occupy while they run (Megatron-Core "
        "moe_deepep_num_sms / moe_hybridep_num_sms); default DeepEP 20, HybridEP 16, Megatron-Bridge's performance "
        "recipes set HybridEP to 32; it slows compute while an all-to-all is hidden under it and bounds DeepEP's "
        "intranode rate")
    moe_a2a_overlap: bool = Field(
        False, description="Megatron-Core merged 1F1B (overlap_moe_expert_parallel_comm): each expert all-to-all runs "
        "beside the other micro-batch's compute, phase by phase; needs ep > 1, no full recomputation, explicit "
        "virtual_stages when pp > 1")
    gpus: int | None = Field(
        None, ge=1, le=MAX_DEGREE, description="GPUs of the job; default every GPU of the cluster (a placement may leave some idle)")
    precision: Literal["bf16", "fp8", "fp4"] = Field(
        "bf16", description="GEMM precision (MFU is against BF16 peak); fp4: NVFP4 (Megatron fp4 e2m1 with the nvfp4 "
        "recipe, Transformer Engine NVFP4BlockScaling: forward, data- and weight-gradient GEMMs of the transformer "
        "layers on FP4 tensor cores, their inputs quantized by NVFP4 casts; Blackwell and later)")
    fp8_weights: bool = Field(
        False, description="with precision fp8: the transformer layers' linear weights are kept in FP8 (Megatron "
        "fp8_param_gather / fp8_param, Transformer Engine fp8_model_init; every Megatron-Bridge FP8 recipe but "
        "subchannel sets it): 1 byte per weight on Blackwell, 2 on Hopper (a transposed copy); embeddings and "
        "norms stay BF16; the distributed optimizer's once-per-step weight all-gather moves 1 byte per weight, "
        "ZeRO-3 / FSDP's per-layer gathers are still timed in BF16 (not modelled in FP8); per-tensor recipes "
        "(delayed, tensorwise) only")
    fp8_recipe: Fp8Recipe | None = Field(
        None, description="FP8 scaling recipe (Megatron fp8_recipe; Megatron-Bridge 'FP8-CS' = tensorwise, 'FP8-MX' = "
        "mxfp8): sets the quantization kernels and bytes, and mxfp8's block-scaled GEMMs run at the GPU's "
        "mxfp8_matmul_ratio of per-tensor FP8; default: the software profile's")
    elementwise: Literal["fused", "eager", "eager-fused-norm"] | None = Field(
        None, description="norms, rotary embedding and activation as fused kernels (torch.compile, Transformer "
        "Engine) or eager PyTorch ops; default: the software profile's")
    cuda_graph_scope: list[CudaGraphPart] | None = Field(
        None, max_length=3, description="parts of each layer captured as one CUDA graph (Megatron-Core "
        "cuda_graph_scope with cuda_graph_impl transformer_engine): attn, moe_router, moe_preprocess (only with "
        "moe_router); default: the software profile's")
    gradient_reduce_bytes: Literal[2, 4] = Field(
        4, description="bytes per gradient element reduced across DP (Llama 3 paper 3.3.2, numerical stability: FP32 reduce-scatter)")
    optimizer_states: OptimizerPrecision | None = Field(
        None, description="precision of Adam's state: fp32 (FP32 master and moments, 12 bytes per parameter), "
        "bf16-moments (FP32 master, BF16 moments: 8; DeepSeek-V3, Megatron's precision-aware optimizer with BF16 "
        "exp_avg and exp_avg_sq), bf16 (BF16 weights updated in place and BF16 moments: 4, as torch.optim.Adam "
        "over BF16 parameters); sets memory and the optimizer step; default: the software profile's")
    tp_comm_overlap: float | None = Field(
        None, ge=0, le=1, description="share of TP communication hidden behind GEMMs; default: the software "
        "profile's (chunked userbuffers overlap, or none)")
    ep_comm_overlap: float | None = Field(
        None, ge=0, le=1, description="share of MoE all-to-all hidden behind compute; default 1 under "
        "pipeline_schedule=dualpipe (DeepSeek-V3 report 3.2.1: fully hidden), else 0")
    dp_overlap: bool | None = Field(
        None, description="DP gradient reduce / parameter gather overlapped with compute; default: the software "
        "profile's")
    pp_comm_overlap: bool | None = Field(
        None, description="interleaved pipeline (virtual_stages > 1): sends and receives overlap the next chunk's "
        "compute (Megatron-Core overlap_p2p_comm); default: the software profile's")
    order: str = Field("tp-cp-ep-dp-pp", max_length=40, description="rank order, fastest first (Megatron-Core default; the Llama 3 "
                       "paper used tp-cp-pp-dp, section 3.3.2)")
    placement: Literal["contiguous", "random-servers", "domain-aligned", "auto"] = Field(
        "auto", description="ranks onto GPUs; auto keeps expert/TP groups inside scale-up domains when they fit")
    domain_gpus: int | None = Field(
        None, ge=1, le=MAX_DEGREE, description="GPUs the job takes from every scale-up domain, whole servers, in rank "
        "order (Slurm --segment; NVIDIA's GB200/GB300 NVL72 runs use 16 of 18 trays, 64 GPUs); default: the placement's")
    algorithm: str = Field("auto", max_length=40, description="DP all-reduce / reduce-scatter algorithm (auto: fastest)")
    load_balancing: Literal["ecmp", "spray", "adaptive", "flowlet", "ideal"] | None = Field(
        None, description="default: the fabric's")
    communication: Literal["auto", "flow", "analytic"] = Field(
        "auto", description="flow-level simulation, analytic alpha-beta, or auto (flow up to 131,072 GPUs)")
    attention_efficiency: float | None = Field(
        None, gt=0, le=1, description="share of BF16 peak the attention kernel sustains; default: the GPU's figure "
        "for the software profile's kernel (gpus.yaml attention_efficiency)")
    jitter_s: float = Field(0.0, ge=0, le=3600, description="per-step compute jitter of one GPU, std. dev. in seconds")


    @field_validator("recompute_modules")
    @classmethod
    def _known_modules(cls, value: list[str] | None) -> list[str] | None:
        for module in value or ():
            if module not in RECOMPUTE_MODULES:
                raise ValueError(f"{module!r} is not a Megatron-Core recompute module; valid: {', '.join(RECOMPUTE_MODULES)}")
        return value

    @model_validator(mode="after")
    def _modules_are_selective(self) -> "TrainSpec":
        if self.recompute_modules is not None and self.recompute not in ("auto", "selective"):
            raise ValueError(f"recompute_modules={self.recompute_modules} is Megatron-Core's selective recomputation "
                             f"but recompute={self.recompute!r}; set recompute: selective (or leave it auto) or drop "
                             "recompute_modules")
        if self.activation_offload_layers is not None and (self.recompute not in ("auto", "none")
                                                           or self.recompute_modules is not None
                                                           or self.recompute_layers is not None):
            raise ValueError(f"activation_offload_layers={self.activation_offload_layers} (Megatron-Core cpu_offloading) "
                             f"with recompute={self.recompute!r}, recompute_modules={self.recompute_modules}, "
                             f"recompute_layers={self.recompute_layers}: Megatron-Core refuses CPU offloading with "
                             "activation recomputation; use recompute none (or auto) without recompute_modules / "
                             "recompute_layers")
        if self.dp_shard is not None and self.zero != 3:
            raise ValueError(f"dp_shard={self.dp_shard} shards weights, gradients and optimizer state over a group of "
                             f"data-parallel ranks (ZeRO-3 / FSDP HYBRID_SHARD) but zero={self.zero}; set zero: 3 or drop "
                             "dp_shard")
        if self.recompute_modules is not None and self.recompute_layers is not None:
            raise ValueError(f"recompute_layers={self.recompute_layers} (Megatron recompute_num_layers) goes with "
                             f"recompute: full, not with recompute_modules={self.recompute_modules} (selective "
                             "granularity recomputes every layer); drop one of them")
        return self


class InferSpec(_Strict):
    """Serving: disaggregated (prefill GPUs hand KV caches to decode GPUs over the fabric) or one
    static batch on one tensor-parallel instance (prefill the whole batch, then decode it)."""

    mode: Literal["disaggregated", "static"] = Field(
        "disaggregated", description="disaggregated prefill/decode instances, or one static batch on tp GPUs")
    software: str = Field("serving-2025", max_length=100, description="software profile (catalog section 'software')")
    prefill_batch: int = Field(1, ge=1, le=10**7, description="prompts per prefill forward pass per attention group")
    ep_comm_overlap: float = Field(
        0.0, ge=0, le=1, description="share of the decode MoE all-to-all hidden behind compute (explicit share)")
    two_batch_overlap: bool = Field(
        False, description="decode splits its batch in two micro-batches whose compute and all-to-alls overlap "
        "(DeepSeek's dual micro-batch overlap, SGLang TBO): weights stream twice, communication hides")
    routing_node_limit: int | None = Field(
        None, ge=1, le=MAX_DEGREE, description="node-limited routing: one copy per target node crosses the network (DeepSeek: 4)")
    attention_dp_contexts: Literal["aligned", "independent"] = Field(
        "aligned", description="prompts of an attention-data-parallel instance (tp < prefill_gpus) that also decodes: "
        "aligned, the ranks prefill in the same iterations (TensorRT-LLM attention_dp_config enable_balance); "
        "independent, each rank takes a new prompt when one of its sequences ends, and an iteration in which any rank "
        "prefills holds the others at the MoE all-to-alls (in-flight batching without ADP balance)")
    model: str = Field("deepseek-v3", description="catalog name of the model")
    prefill_gpus: int = Field(32, ge=1, le=MAX_DEGREE, description="GPUs of one prefill instance")
    decode_gpus: int = Field(64, ge=1, le=MAX_DEGREE, description="GPUs of one decode instance")
    tp: int = Field(1, ge=1, le=MAX_DEGREE, description="tensor-parallel degree of attention in decode and prefill")
    pp: int = Field(1, ge=1, le=MAX_DEGREE, description="pipeline stages of one instance (static mode): layers split over pp "
                    "TP groups, pp micro-batches in flight; one instance = tp x pp GPUs")
    ep: int | None = Field(None, ge=1, le=MAX_DEGREE, description="expert-parallel degree of decode; default: decode_gpus "
                           "(static: 1, at most tp -- the experts spread over the tensor-parallel group)")
    batch: int = Field(256, ge=1, le=10**7, description="sequences decoded together per decode instance")
    context: int = Field(8192, ge=1, le=MAX_TOKENS, description="prompt tokens per request")
    output_tokens: int = Field(1024, ge=1, le=MAX_TOKENS, description="generated tokens per request")
    context_cv: float = Field(
        0.0, ge=0, le=10, description="coefficient of variation (standard deviation / mean) of the requests' prompt "
        "lengths; 0: every prompt has context tokens. A prompt pass's attention grows with the square of each "
        "prompt's length (fabricsim.workload.request_lengths)")
    output_tokens_cv: float = Field(
        0.0, ge=0, le=10, description="coefficient of variation of the requests' output lengths; 0: every request "
        "generates output_tokens. Long requests take part in more decode steps, so the sequences in flight hold more "
        "cached tokens than the means suggest (MLPerf's DeepSeek-R1 set: 1.25)")
    length_correlation: float = Field(
        0.0, ge=-1, le=1, description="correlation of a request's prompt and output lengths (Pearson)")
    requests: int | None = Field(
        None, ge=1, le=10**9, description="requests a finite benchmark serves in all, batch in flight at a time, and "
        "throughput is the run's; of equal lengths (trtllm-bench with --input-stdev 0 --output-stdev 0) they run in "
        "waves, the last one short; with output_tokens_cv (and on disaggregated or pipelined deployments) they queue "
        "and the batch empties while the longest finish (fabricsim.workload.finite_run); None: the steady state of full "
        "batches")
    weight_bytes: Literal[0.5, 1, 2] = Field(1, description="bytes per weight (0.5 = NVFP4: 4-bit values with an FP8 "
                                            "scale per 16, on FP4 tensor cores where the GPU has them; 1 = FP8; 2 = BF16)")
    expert_weight_bytes: Literal[0.5, 1, 2] | None = Field(
        None, description="bytes per routed-expert weight, when an MoE checkpoint quantizes its experts apart (NVIDIA's "
        "NVFP4 checkpoints re-cast the MoE GEMM weights to NVFP4 and keep attention in FP8: weight_bytes 1, "
        "expert_weight_bytes 0.5); None: weight_bytes")
    kv_bytes: Literal[1, 2] = Field(2, description="bytes per KV-cache element")
    kv_cache_fraction: float = Field(
        0.9, gt=0, le=1, description="share of free GPU memory the KV cache may take (TensorRT-LLM "
        "kv_cache_free_gpu_mem_fraction, trtllm-bench default 0.90); sizes the engine limits of profiles with "
        "decode_graph_batch_sizes")
    load_balancing: Literal["ecmp", "spray", "adaptive", "flowlet", "ideal"] | None = None


class WorkloadSpec(_Strict):
    train: TrainSpec = Field(default_factory=TrainSpec)
    infer: InferSpec = Field(default_factory=InferSpec)
