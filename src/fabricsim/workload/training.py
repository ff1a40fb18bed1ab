"""One training step: model + parallelism + fabric -> step time, its breakdown, tokens/s and MFU.

Composition (seconds, on the busiest pipeline stage; Narayanan et al. 2021 for the schedule):

* per micro-batch: forward ``t_f`` and backward ``t_b`` = compute (GEMMs at the GPU's achievable
  matmul rate, attention, memory-bound elementwise work at HBM bandwidth) + exposed TP, CP and EP
  communication (``1 - overlap`` of their simulated time) + the pipeline send/recv of each model
  chunk, which 1F1B waits for;
* pipeline: ``(m + f (pp - 1) / v) x (t_f + t_b)`` for ``m`` micro-batches, ``v`` virtual stages and ``f``
  schedules per step (``pipeline_flushes``: 1 in Megatron); the ``f (pp - 1) / v`` part is the bubble;
* data parallelism: the gradient reduce-scatter overlaps the last micro-batch's backward and the
  weight all-gather the first micro-batch's forward (Megatron's ``overlap_grad_reduce`` /
  ``overlap_param_gather``); what does not fit in that window is exposed;
* optimizer: Adam's update streams its state through HBM once;
* stragglers: the step waits for the slowest of all GPUs (expected maximum of per-GPU jitter).

MFU = model FLOPs per step / (step time x GPUs x dense BF16 peak), model FLOPs from
:func:`fabricsim.workload.model.training_flops_per_token` (recomputation is not counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fabricsim.collectives.stragglers import expected_straggler_delay
from fabricsim.errors import FabricsimError
from fabricsim.workload import catalog_entry
from fabricsim.workload.activation_offload import check_offload, offload_exposure
from fabricsim.workload.zero3_fetch import coordinate_calls, fetch_modules
from fabricsim.workload.comms import CommCall, plan_calls, time_calls
from fabricsim.workload.ep_dispatch import cap_ep_calls, dispatcher_sms, prob_bytes_per_row
from fabricsim.workload.compute import Shape, StageCompute, attention_kind, optimizer_step_s
from fabricsim.workload.pacing import rank_candidates
from fabricsim.workload.dualpipe import bubble_s as dualpipe_bubble_s
from fabricsim.workload.dualpipe import check_dualpipe, paired_ranks
from fabricsim.workload.exposure import Exposure, expose, flat_buffer_copy_s
from fabricsim.workload.recompute_modules import check_for_model, check_modules
from fabricsim.workload.memory import (MemoryJob, MemoryUse, activation_storage, choose_recompute, embedding_parameters,
                                      gathered_weight_bytes, parameters_per_gpu, primary_fp8_weight_bytes, recomputed_layers,
                                      recomputed_share)
from fabricsim.workload.model import training_flops_per_token
from fabricsim.workload.moe import (FLEX_DISPATCHERS, check_token_drop, dispatch_copies, dispatcher_for, expert_sort,
                                    forwarding_domain, token_drop_copies, token_drop_mode)
from fabricsim.workload.optimizer_states import describe, optimizer_states
from fabricsim.workload.parallelism import Parallelism, check_parallelism, rank_groups
from fabricsim.workload.pipeline import StageLayout, micro_batches, stage_layout
from fabricsim.workload.a2a_overlap import exposed_per_micro_batch
from fabricsim.workload.recipe_checks import check_precision, check_recipe_features, sync_free

FLOW_LEVEL_LIMIT = 131_072
"""``communication: auto`` simulates flows up to this many GPUs (a 100k-GPU step takes ~3 s, see
benchmarks/bench_training.py) and uses the analytic model beyond."""


@dataclass(frozen=True)
class RankTiming:
    """One candidate pacing rank of a step (seconds): the stages it runs and its compute per unit, its collectives
    as planned and timed for its own layers, what of them it cannot hide, and the time it needs for the step
    (``busy``: pipeline + exposed per-step DP + optimizer)."""

    stages: tuple[int, ...]
    stage: StageCompute
    units: int
    layers_here: int
    calls: list[CommCall]
    exposure: Exposure
    copies: float
    offloading: object
    offload_s: float
    bubble: float
    pipeline: float
    optimizer: float
    sm_bound: float | None
    ep_sms: int | None
    coordinator: object
    recompute_here: int
    busy: float


@dataclass
class TrainingResult:
    model: str
    gpus: int
    parallelism: Parallelism
    micro_batches: int
    recompute: str
    communication: str
    load_balancing: str
    step_time_s: float
    breakdown_s: dict[str, float]  # compute, exposed tp/cp/ep/pp/dp comm, bubble, optimizer, stragglers
    tokens_per_step: int
    model_flops_per_step: float
    hardware_flops_per_step: float  # model FLOPs + recomputed forward passes (Megatron's "achieved TFLOP/s")
    peak_flops_per_gpu: float
    memory: MemoryUse
    calls: list[CommCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stage: StageCompute | None = None  # one micro-batch on the busiest stage, kernel by kernel
    layout: StageLayout | None = None
    software: str = ""
    exposure: Exposure | None = None
    schedule: str = "1f1b"  # pipeline schedule: 1f1b (interleaved with virtual stages) or dualpipe

    @property
    def pipeline_units(self) -> int:
        """Units of work the busiest rank runs per step: micro-batches, or under DualPipe pairs of them (one
        through each of the rank's two stages); per-micro-batch call counts and stage times are per unit."""
        return self.micro_batches // 2 if self.schedule == "dualpipe" else self.micro_batches

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_step / self.step_time_s

    @property
    def tokens_per_s_per_gpu(self) -> float:
        return self.tokens_per_step / (self.step_time_s * self.gpus)

    @property
    def model_flops_per_s_per_gpu(self) -> float:
        return self.model_flops_per_step / (self.step_time_s * self.gpus)

    @property
    def hardware_flops_per_s_per_gpu(self) -> float:
        """Achieved FLOP/s including recomputation, as Narayanan et al. 2021 report it (their eq. 3
        counts four passes with activation recomputation)."""
        return self.hardware_flops_per_step / (self.step_time_s * self.gpus)

    @property
    def mfu(self) -> float:
        return self.model_flops_per_s_per_gpu / self.peak_flops_per_gpu


def _check_sequence(spec, par: Parallelism) -> None:
    if spec.seq % (2 * par.cp) and par.cp > 1:
        raise FabricsimError(f"workload.train.seq={spec.seq} must split into 2 x cp={par.cp} equal chunks "
                             f"(load-balanced context parallelism); use a multiple of {2 * par.cp}")


def train_on_scenario(scenario, spec, model, fabric=None) -> TrainingResult:
    """Design the scenario's fabric, build it when flows are simulated, and time one step."""
    from fabricsim.topology.build import build_fabric
    from fabricsim.topology.design import design_fabric

    if getattr(scenario, "sites", None) is not None:  # several sites: DP crosses the DCI
        from fabricsim.workload.multisite import train_across_sites

        return train_across_sites(scenario, spec, model).result
    if getattr(scenario.fabric, "topology", "fat-tree") == "torus":
        raise FabricsimError("training on a torus is not modelled (its TP/PP/DP mapping onto ICI rings differs from "
                             "Megatron's on NVLink + fat-tree); use fabricsim plan and collective on it")
    design = fabric.design if fabric is not None else design_fabric(scenario)
    method = spec.communication
    if method == "auto":
        method = "flow" if design.gpus <= FLOW_LEVEL_LIMIT else "analytic"
    if method == "flow" and fabric is None:
        fabric = build_fabric(design)
    profile = catalog_entry(scenario, "software", spec.software, "workload.train.software")
    return simulate_step(design, fabric, spec, model, method, profile)


def simulate_step(design, fabric, spec, model, method: str, profile, time_comm=None) -> TrainingResult:
    """Time one training step of ``spec`` (a TrainSpec) on the fabric (``fabric`` may be None when
    ``method`` is analytic); ``profile`` is the software profile (catalog section ``software``).
    ``time_comm`` replaces :func:`time_calls` (same arguments): multi-site training times the calls
    that cross the DCI its own way."""
    cluster_gpus = design.gpus
    gpus = spec.gpus or cluster_gpus
    if gpus > cluster_gpus:
        raise FabricsimError(f"workload.train.gpus={gpus:,} is more than the cluster's {cluster_gpus:,} GPUs (cluster.gpus)")
    replica = spec.tp * spec.pp * spec.cp
    if spec.dp is None and (gpus < replica or gpus % replica):
        where = "workload.train.gpus" if spec.gpus else "cluster.gpus"
        raise FabricsimError(
            f"workload.train: one model replica needs tp x pp x cp = {spec.tp} x {spec.pp} x {spec.cp} = "
            f"{replica:,} GPUs, and {where}={gpus:,} "
            + ("is fewer" if gpus < replica else "is not a multiple of it (data parallelism needs whole replicas)")
            + f"; change workload.train.tp/pp/cp (--tp/--pp/--cp), {where}, or the model "
            f"(workload.train.model={spec.model}), or let fabricsim search the layouts (fabricsim train --search)")
    dp = spec.dp or gpus // replica
    par = Parallelism(spec.tp, spec.pp, spec.cp, dp, spec.ep, spec.virtual_stages or 1, spec.zero,
                      spec.sequence_parallel, spec.expert_tp or spec.tp, spec.dp_shard or 0)
    check_parallelism(par, gpus, model, design.scale_up.gpus)
    pipelined_fsdp = par.zero == 3 and par.pp > 1 and profile.fsdp_pipeline_unsharded
    if pipelined_fsdp:  # FSDP2 under torch.distributed.pipelining: ZeRO-1's memory and traffic
        par = replace(par, zero=1)
    gpu = design.gpu
    check_precision(spec.precision, gpu)
    _check_sequence(spec, par)
    m = micro_batches(spec, par)
    dualpipe = spec.pipeline_schedule == "dualpipe"
    if dualpipe:
        check_dualpipe(par.pp, m, spec.virtual_stages)
    mtp = model.mtp_modules if spec.mtp is None else spec.mtp
    layout = stage_layout(model, par.pp, spec.first_stage_layers, spec.last_stage_layers, mtp,
                          spec.embedding_in_pipeline_split, spec.loss_in_pipeline_split)
    if not dualpipe and spec.virtual_stages is None and par.pp > 1 and m % (spec.pipeline_group or par.pp) == 0:
        par = replace(par, virtual_stages=max(layout.decoder_layers))
    materialized = attention_kind(model, profile) == "materialized"
    offload = spec.activation_offload_layers or 0
    check_offload(offload, par, layout.decoder_layers[0], gpu, profile.cuda_graphs if spec.cuda_graphs is None
                  else spec.cuda_graphs, profile.cuda_graph_scope if spec.cuda_graph_scope is None else spec.cuda_graph_scope)
    router_tokens = spec.micro_batch * spec.seq / par.cp  # one micro-batch on one CP rank, before the TP split
    check_token_drop(spec, model, par, router_tokens, dispatcher_for(spec.moe_dispatcher, spec.routing_node_limit),
                     profile.cuda_graphs if spec.cuda_graphs is None else spec.cuda_graphs, profile.moe_host_sync,
                     profile.cuda_graph_scope if spec.cuda_graph_scope is None else spec.cuda_graph_scope)
    check_recipe_features(spec, model, par, gpu, profile, dispatcher_for(spec.moe_dispatcher, spec.routing_node_limit),
                          profile.cuda_graphs if spec.cuda_graphs is None else spec.cuda_graphs,
                          profile.cuda_graph_scope if spec.cuda_graph_scope is None else spec.cuda_graph_scope,
                          token_drop_mode(spec, model), spec.recompute_modules, mtp)
    # token-drop: the rows a rank sends per token of its router input, which the experts also keep (moe.py)
    dropped_copies = token_drop_copies(model, par, router_tokens, spec.moe_capacity_factor,
                                       spec.moe_pad_to_capacity) if token_drop_mode(spec, model) else None
    # Megatron-Core recompute_modules: selective granularity on every layer (none of them: nothing recomputed)
    selective_modules = None if spec.recompute_modules is None else check_modules(spec.recompute_modules)
    check_for_model(selective_modules, model)
    states = optimizer_states(spec.optimizer_states or profile.optimizer_states)
    job = MemoryJob(model, gpu, par, spec.seq, spec.micro_batch, m, spec.gradient_reduce_bytes, layout,
                    materialized, profile.dropout, spec.pipeline_group, spec.pipeline_schedule,
                    activation_storage(profile, spec), profile.recompute_mla_up_projection, dropped_copies, selective_modules,
                    offload, primary_fp8_weight_bytes(spec, profile, gpu), states)
    try:
        memory = choose_recompute(job, spec.recompute if selective_modules is None else "selective", spec.recompute_layers)
    except FabricsimError as error:
        if not pipelined_fsdp:
            raise
        raise FabricsimError(f"{error} (zero=3 with pipeline stages under software {profile.name} keeps weights and "
                             "gradients whole through each schedule, as zero=1 does: the figures and fixes above are "
                             "zero=1's)") from None
    if spec.moe_a2a_overlap and memory.recompute == "full":
        raise FabricsimError("workload.train.moe_a2a_overlap=true needs no full recomputation (Megatron-Core), and "
                             f"recompute={spec.recompute!r} chose full to fit HBM; lower the micro-batch or drop the overlap")
    shape = _shape(model, par, spec)
    rank_stages = paired_ranks(par.pp) if dualpipe else [(i,) for i in range(layout.stages)]
    coordinated = par.zero == 3 and profile.zero3_coordinator
    layer_tensors = _weight_tensors(model, par)
    layer_elements = sum(layer_tensors)
    modules = fetch_modules(model, gpu, shape, profile, par.tp, spec) if coordinated else []
    if coordinated:
        gathered = sorted({module.gathered for module in modules if module.gathered})
        persistent = sorted({p for module in modules for p in module.persistent})
    else:
        gathered, persistent = (list(layer_tensors) if par.zero == 3 else []), []
        if gathered and profile.zero3_flat_buffer_copies:  # FSDP2: one flat buffer, one collective per layer
            gathered = [sum(gathered)]
    gathers = 3 if memory.recompute == "full" and profile.zero3_regather_for_recompute else 2  # ZeRO-3, per layer
    ep_copies = _ep_copies(model, par, spec, design, dropped_copies) if model.routed_experts and par.ep > 1 else None
    dispatcher = dispatcher_for(spec.moe_dispatcher, spec.routing_node_limit)
    prob_bytes = prob_bytes_per_row(dispatcher, model.routed_experts, par.ep, _nvlink_reach(dispatcher, design)) \
        if ep_copies is not None else 0.0
    groups = rank_groups(par, spec.order, spec.placement, design.scenario.cluster.gpus_per_server,
                         domain=design.scale_up.gpus, cluster_gpus=cluster_gpus, domain_gpus=spec.domain_gpus)
    policy = spec.load_balancing or design.load_balancing
    dp_overlap = profile.dp_overlap if spec.dp_overlap is None else spec.dp_overlap
    ep_overlap = spec.ep_comm_overlap if spec.ep_comm_overlap is not None else (1.0 if dualpipe else 0.0)
    timings: dict = {"flow": {}, "analytic": {}}  # a collective of one size on the same groups is timed once

    def time_rank(stages, stage, how: str = method) -> RankTiming:
        """One candidate pacing rank (``stages`` it runs, ``stage`` its compute per unit): its collectives planned
        for its own layers and timed (``how``: flow or analytic), their exposure, and the time it needs for the
        step (``busy``)."""
        units = m // len(stages)  # DualPipe: pairs of micro-batches
        layers_here = sum(layout.layers[i] for i in stages)
        moe_here = sum(layout.moe_layers[i] for i in stages)
        params = [parameters_per_gpu(model, par, layout, i) for i in stages]
        dense, experts = sum(p[0] for p in params), sum(p[1] for p in params)
        # with 'full' on the first k layers of each stage: the layers recomputed on this rank's stages (0: all)
        recompute_here = sum(recomputed_layers(memory.recompute, memory.recompute_layers, layout.layers[i])
                             for i in stages) if memory.recompute_layers else 0
        root = _root_elements(model, par, layout, stages) if par.zero == 3 and not coordinated else None
        calls = plan_calls(model, par, groups, spec.seq, spec.micro_batch, memory.recompute, layers_here, moe_here,
                           dense, experts, spec.gradient_reduce_bytes, in_network=spec.algorithm == "in_network",
                           weight_tensors=gathered, persistent_tensors=persistent, root_elements=root or 0.0,
                           recompute_layers=recompute_here, zero3_gathers=gathers, ep_copies=ep_copies,
                           context_parallel=profile.context_parallel, kv_expanded=profile.attention_kv_expanded,
                           gathered_bytes=tuple(map(sum, zip(*(gathered_weight_bytes(job, i, *p)
                                                                for i, p in zip(stages, params))))),
                           ep_row_extra_bytes=prob_bytes)
        if pipelined_fsdp:  # the gather and the reduce-scatter come once per schedule
            calls = [replace(c, per_step=c.per_step * spec.pipeline_flushes) if c.kind == "dp" else c for c in calls]
        if ep_copies is not None and dispatcher in FLEX_DISPATCHERS:
            for call in calls:
                call.direct = call.kind == "ep"  # DeepEP / HybridEP kernels, not NCCL's all-to-all
        if time_comm is not None:
            time_comm(design, fabric, calls, spec.algorithm, policy, how)
        else:
            time_calls(design, fabric, calls, spec.algorithm, policy, how, timings=timings[how])
        sm_bound = ep_sms = None
        if ep_copies is not None:
            ep_sms = dispatcher_sms(dispatcher, spec.ep_dispatcher_sms)
            server = groups.ep // design.scenario.cluster.gpus_per_server  # each expert group's GPUs by server
            domain = groups.ep // design.scale_up.gpus  # ... and by NVLink domain
            sm_bound = cap_ep_calls(calls, gpu, dispatcher, bool((server == server[:, :1]).all()), ep_sms,
                                    mnnvl=bool((domain == domain[:, :1]).all()))
        coordinator = coordinate_calls(modules, calls, memory.recompute, recompute_here, layers_here, par, spec,
                                       profile) if coordinated else None
        ep_exposed = None
        if spec.moe_a2a_overlap and stage.moe_phases is not None:  # merged 1F1B, phase by phase (a2a_overlap.py)
            a2a = max((c.time_s for c in calls if c.kind == "ep"), default=0.0)
            ep_exposed = exposed_per_micro_batch(stage.moe_phases, a2a, moe_here, units)
        exposure = expose(calls, stage, layers_here, units, par, gpu, profile, spec.tp_comm_overlap, ep_overlap,
                          dp_overlap, layer_elements, coordinator, pp_hidden=dualpipe,
                          pp_overlap=spec.pp_comm_overlap, ep_exposed=ep_exposed, ep_sms=ep_sms)
        copies = flat_buffer_copy_s(layer_elements, layers_here, root, gathers, spec.gradient_reduce_bytes,
                                    gpu.hbm_stream_bytes_per_s) if root is not None and profile.zero3_flat_buffer_copies else 0.0
        offloading = offload_exposure(model, gpu, shape, profile, job, spec.attention_efficiency) if offload else None
        offload_s = offloading.exposed_s if offloading else 0.0
        micro = stage.total_s + exposure.slowdown_per_micro + sum(exposure.per_micro.values()) + copies + offload_s
        if dualpipe:
            bubble = dualpipe_bubble_s(stage, micro - stage.total_s, par.pp)
        else:
            bubble = spec.pipeline_flushes * (par.pp - 1) / par.virtual_stages * micro  # a fill and a drain per schedule
        pipeline = units * micro + bubble
        optimizer = optimizer_step_s(gpu, dense, experts, par, states.update_bytes)
        return RankTiming(stages=stages, stage=stage, units=units, layers_here=layers_here, calls=calls,
                          exposure=exposure, copies=copies, offloading=offloading, offload_s=offload_s,
                          bubble=bubble, pipeline=pipeline, optimizer=optimizer, sm_bound=sm_bound, ep_sms=ep_sms,
                          coordinator=coordinator, recompute_here=recompute_here,
                          busy=pipeline + exposure.dp_per_step + optimizer)

    # the rank that needs longest paces the step: its compute and the communication it cannot hide
    candidates = rank_candidates(model, gpu, shape, profile, layout, memory, spec.attention_efficiency, rank_stages)
    # several candidates under flow-level timing: the analytic model (no contention) picks the rank, the flows time it
    ranking = "analytic" if method == "flow" and time_comm is None and len(candidates) > 1 else method
    paced = max((time_rank(*candidate, how=ranking) for candidate in candidates), key=lambda rank: rank.busy)  # first on ties
    if ranking != method:
        paced = time_rank(paced.stages, paced.stage)
    stages, stage, units, layers_here, calls, exposure = (paced.stages, paced.stage, paced.units, paced.layers_here,
                                                          paced.calls, paced.exposure)
    copies, offloading, offload_s, bubble, pipeline = (paced.copies, paced.offloading, paced.offload_s, paced.bubble,
                                                       paced.pipeline)
    optimizer, sm_bound, ep_sms, coordinator = paced.optimizer, paced.sm_bound, paced.ep_sms, paced.coordinator
    recompute_here = paced.recompute_here
    stragglers = expected_straggler_delay(gpus, "normal", spec.jitter_s) if spec.jitter_s > 0 else 0.0
    breakdown = {"compute": units * (stage.total_s - stage.recompute_s),
                 "recompute": units * stage.recompute_s,
                 "comm kernels' SMs": units * exposure.slowdown_per_micro,
                 **({"FSDP buffer copies": units * copies} if copies else {}),
                 **({"exposed activation offload": units * offload_s} if offloading else {}),
                 **{f"exposed {kind.upper()} comm": units * t for kind, t in exposure.per_micro.items()},
                 "pipeline bubble": bubble,
                 "optimizer": optimizer, "training loop (host)": profile.step_host_s, "stragglers": stragglers}
    breakdown["exposed DP comm"] += exposure.dp_per_step
    step = pipeline + exposure.dp_per_step + optimizer + profile.step_host_s + stragglers
    tokens = spec.global_batch * spec.seq
    flops = training_flops_per_token(model, spec.seq) * tokens
    # a recomputed layer runs its forward again: one more of its three passes' FLOPs; per-op
    # checkpointing repeats some GEMMs (their share of the stage's executed FLOPs)
    executed = stage.gemm_flops + stage.attention_flops
    hardware = flops * (1 + recomputed_share(memory.recompute, recompute_here, layers_here) / 3
                        + (stage.recompute_flops / executed if executed else 0.0))
    notes = []
    if dualpipe:
        notes.append(f"DualPipe: the busiest rank holds stages {stages[0]} and {stages[1]}; its figures per "
                     "micro-batch are per pair of micro-batches, one through each stage; bubble "
                     f"(pp/2 - 1)(F&B + B - 3W) = {bubble:.3f} s; all-to-all and pipeline sends hidden under paired chunks")
    if memory.recompute != "none":
        partial = (f" on {memory.recompute_layers} of {layout.layers[stages[0]]} layers per stage"
                   if memory.recompute_layers else "")
        if memory.recompute == "selective" and selective_modules is not None:
            partial = f" of modules [{', '.join(selective_modules)}]"
        notes.append(f"activation recomputation '{memory.recompute}'{partial} ({'chosen so memory fits, ' if spec.recompute == 'auto' and selective_modules is None else ''}"
                     f"{memory.total / 2**30:,.1f} of {memory.hbm / 2**30:,.1f} GiB); recomputed FLOPs are not model FLOPs")
    if pipelined_fsdp:
        notes.append("zero=3 with pipeline stages: this stack's FSDP keeps each stage's gathered weights and unreduced "
                     "gradients from the schedule's first forward to its last backward, so weights are gathered and "
                     "gradients reduce-scattered once per schedule (pipeline_flushes per step), optimizer states "
                     "sharded: timed as zero=1 (software profile fsdp_pipeline_unsharded)")
    if states.precision != "fp32":
        notes.append(f"optimizer: {describe(states)} (optimizer_states {states.precision})")
    if offloading:
        notes.append(f"activations of the first {offload} layers offloaded to host memory (Megatron-Core cpu_offloading): "
                     f"{offloading.copied_bytes / 1e9:,.1f} GB each way per micro-batch over the host link, "
                     f"{memory.activations / 1e9:,.1f} GB stay in HBM; the compute waits "
                     f"{offloading.forward_wait_s * 1e3:,.1f} ms (forward) + {offloading.backward_wait_s * 1e3:,.1f} ms "
                     "(backward) per micro-batch for copies")
    if ep_copies is not None:
        notes.append(f"MoE token dispatch: {dispatcher}, {ep_copies:.2f} "
                     f"copies of each token per all-to-all over EP {par.ep} (top-{model.experts_per_token} routing"
                     + (", each token's experts consecutive" if spec.routing == "contiguous" else "") + ")"
                     + (f"; DeepEP's kernels on {ep_sms} SMs move at most {sm_bound / 1e9:,.0f} GB/s, below the link"
                        if sm_bound else ""))
    if shape.token_drop:
        notes.append(f"MoE token-drop, capacity factor {spec.moe_capacity_factor:g}: each local expert multiplies "
                     f"{shape.tokens_per_expert:,.0f} rows" + (" (padded to capacity: no host synchronization)"
                                                             if shape.token_drop == "pad" else " at most"))
    features = [f for f in ("cuda_graph_full_iteration", "moe_a2a_overlap", "moe_fused_grouped_mlp", "fp8_attention",
                            "fp8_output_head")
                if getattr(spec, f)] + (["sync-free HybridEP dispatch"] if sync_free(spec, model) else [])
    if features:
        notes.append(f"recipe features: {', '.join(features)} (recipe_checks.py lists where each acts)")
    if coordinator is not None:
        notes.append(f"ZeRO-3 through DeepSpeed's 2021 coordinator over {par.dp * par.cp:,} ranks: {coordinator.gathers} "
                     f"gathers and {coordinator.reduce_scatters} reduce-scatters per micro-batch, each with host work per "
                     f"rank; exposed per micro-batch: {coordinator.host_s:.2f} s waiting for the host, "
                     f"{coordinator.collective_s:.2f} s for collectives; {coordinator.post_step_s:.2f} s per step "
                     "re-gathering persistent parameters")
    return TrainingResult(model.name, gpus, par, m, memory.recompute, method, policy, step, breakdown, tokens, flops,
                          hardware, gpu.bf16_dense_flops, memory, calls, notes, stage, layout, profile.name, exposure,
                          spec.pipeline_schedule)


def _ep_copies(model, par: Parallelism, spec, design, dropped_copies: float | None) -> float:
    """Token copies per dispatch for the job's token dispatcher (:mod:`fabricsim.workload.moe`);
    ``dropped_copies``: under token-drop, the all-to-all dispatcher's capacity rows per token (moe.py)."""
    if dropped_copies is not None:
        return dropped_copies
    dispatcher = dispatcher_for(spec.moe_dispatcher, spec.routing_node_limit)
    return dispatch_copies(model, par, _nvlink_reach(dispatcher, design), spec.routing_node_limit, dispatcher,
                           spec.routing)


def _nvlink_reach(dispatcher: str, design) -> int:
    """GPUs the job's expert dispatcher reaches over NVLink before the scale-out network (moe.forwarding_domain)."""
    return forwarding_domain(dispatcher, design.scale_up.gpus, design.scenario.cluster.gpus_per_server,
                             bool(design.gpu.deepep_mnnvl_sm_bytes_per_s))


def _root_elements(model, par: Parallelism, layout: StageLayout, stages) -> float:
    """FSDP's root unit on one TP rank: the parameters of the rank's stages outside their layers."""
    return sum(embedding_parameters(model, layout, i) for i in stages) / par.tp


def _shape(model, par: Parallelism, spec) -> Shape:
    from fabricsim.workload.moe import expert_load, quantization_padding

    tokens = spec.micro_batch * spec.seq / par.cp
    per_expert, routed = expert_load(model, par, tokens, spec) if model.routed_experts else (0.0, 0.0)
    dispatcher = dispatcher_for(spec.moe_dispatcher, spec.routing_node_limit)
    recipe = "nvfp4" if spec.precision == "fp4" else spec.fp8_recipe
    padding = bool(model.routed_experts) and spec.precision in ("fp8", "fp4") \
        and quantization_padding(dispatcher, recipe, token_drop_mode(spec, model), per_expert)
    return Shape(tokens, spec.seq, spec.micro_batch, par.tp, par.sequence_parallel, spec.precision, par.ep, par.etp,
                 per_expert, routed, recipe,
                 None if spec.cuda_graph_scope is None else tuple(spec.cuda_graph_scope), spec.elementwise, par.cp,
                 token_drop_mode(spec, model), spec.cuda_graphs, spec.gradient_reduce_bytes,
                 None if spec.recompute_modules is None else tuple(spec.recompute_modules),
                 spec.cuda_graph_full_iteration, sync_free(spec, model), spec.moe_fused_grouped_mlp, spec.fp8_attention,
                 expert_sort(dispatcher, model, par), padding, spec.fp8_output_head)


def _weight_tensors(model, par: Parallelism) -> list[float]:
    """Elements of each parameter tensor of one (dense) layer on one TP rank -- weight matrices, their
    biases, the norms' gains (and biases) -- which ZeRO-3 gathers one by one."""
    from fabricsim.workload.layers import dense_layer_gemms

    tensors = []
    for g in dense_layer_gemms(model, 1, par.tp):
        tensors.append(g.n * g.k)
        if model.has_biases:
            tensors.append(g.n)
    tensors += [model.hidden_size] * (4 if model.has_biases else 2)  # two norms: gain (and bias)
    return tensors
