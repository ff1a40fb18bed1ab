"""One training step: model + parallelism + fabric -> step time, its breakdown, tokens/s and MFU.

Composition (seconds, on the busiest pipeline stage; Narayanan et al. 2021 for the schedule):

* per micro-batch: forward ``t_f`` and backward ``t_b`` = compute (GEMMs at the GPU's achievable
  matmul rate, attention, memory-bound elementwise work at HBM bandwidth) + exposed TP, CP and EP
  communication (``1 - overlap`` of their simulated time) + the pipeline send/recv of each model
  chunk, which 1F1B waits for;
* pipeline: ``(m + (pp - 1) / v) x (t_f + t_b)`` for ``m`` micro-batches and ``v`` virtual stages;
  the ``(pp - 1) / v`` part is the bubble;
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
from fabricsim.workload.comms import CommCall, plan_calls, time_calls
from fabricsim.workload.compute import optimizer_step_s, stage_compute
from fabricsim.workload.memory import MemoryUse, choose_recompute, parameters_per_gpu
from fabricsim.workload.model import training_flops_per_token
from fabricsim.workload.parallelism import Parallelism, check_parallelism, rank_groups

FLOW_LEVEL_LIMIT = 131_072
"""``communication: auto`` simulates flows up to this many GPUs (a 100k-GPU step takes ~3 s, see
benchmarks/bench_training.py) and uses the analytic model beyond."""


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

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_step / self.step_time_s

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


def _micro_batches(spec, par: Parallelism) -> int:
    per_replica = spec.global_batch / (par.dp * spec.micro_batch)
    if per_replica != int(per_replica) or per_replica < 1:
        raise FabricsimError(
            f"workload.train.global_batch={spec.global_batch} is not a whole number of micro-batches of "
            f"{spec.micro_batch} per data-parallel replica (dp={par.dp}); use a multiple of {par.dp * spec.micro_batch}")
    m = int(per_replica)
    if par.virtual_stages > 1 and m % par.pp:
        raise FabricsimError(f"workload.train: interleaved pipelining needs micro-batches per replica ({m}) to be a "
                             f"multiple of pp={par.pp}")
    return m


def _layers_on_busiest_stage(model, pp: int) -> int:
    return -(-model.layers // pp)


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
    return simulate_step(design, fabric, spec, model, method)


def simulate_step(design, fabric, spec, model, method: str, time_comm=None) -> TrainingResult:
    """Time one training step of ``spec`` (a TrainSpec) on the fabric (``fabric`` may be None when
    ``method`` is analytic).  ``time_comm`` replaces :func:`time_calls` (same arguments): multi-site
    training times calls that cross the DCI its own way."""
    gpus = design.gpus
    dp = spec.dp or gpus // (spec.tp * spec.pp * spec.cp)
    par = Parallelism(spec.tp, spec.pp, spec.cp, dp, spec.ep, spec.virtual_stages or 1, spec.zero,
                      spec.sequence_parallel)
    check_parallelism(par, gpus, model, design.scale_up.gpus)
    gpu = design.gpu
    _check_sequence(spec, par)
    m = _micro_batches(spec, par)
    if spec.virtual_stages is None and par.pp > 1 and m % par.pp == 0:
        par = replace(par, virtual_stages=_layers_on_busiest_stage(model, par.pp))
    memory = choose_recompute(model, gpu, par, spec.seq, spec.micro_batch, m, spec.recompute,
                              spec.gradient_reduce_bytes)
    layers_here = _layers_on_busiest_stage(model, par.pp)
    moe_here = round(layers_here * model.moe_layers / model.layers) if model.routed_experts else 0
    stage = stage_compute(model, gpu, par, spec.seq, spec.micro_batch, layers_here, memory.recompute, spec.precision,
                          head=par.pp == 1, attention_efficiency=spec.attention_efficiency)
    dense, experts = parameters_per_gpu(model, par)
    groups = rank_groups(par, spec.order, spec.placement, design.scenario.cluster.gpus_per_server)
    calls = plan_calls(model, par, groups, spec.seq, spec.micro_batch, memory.recompute, layers_here, moe_here,
                       dense, experts, spec.gradient_reduce_bytes,
                       in_network=spec.algorithm == "in_network")
    policy = spec.load_balancing or design.load_balancing
    (time_comm or time_calls)(design, fabric, calls, spec.algorithm, policy, method)
    exposed = {kind: 0.0 for kind in ("tp", "cp", "ep", "pp", "dp")}
    per_micro = {kind: 0.0 for kind in exposed}
    overlap = {"tp": spec.tp_comm_overlap, "ep": spec.ep_comm_overlap, "cp": 0.0, "pp": 0.0}
    for call in calls:
        if call.per_micro_batch and call.kind != "dp":
            per_micro[call.kind] += call.time_s * call.per_micro_batch * (1 - overlap[call.kind])
    compute_micro = stage.forward_s + stage.backward_s
    micro = compute_micro + sum(per_micro.values())
    bubble_micro_batches = (par.pp - 1) / par.virtual_stages
    pipeline = (m + bubble_micro_batches) * micro
    for kind in per_micro:
        exposed[kind] = m * per_micro[kind]
    exposed["dp"] = _exposed_data_parallel(calls, stage, spec.dp_overlap, m)
    optimizer = optimizer_step_s(gpu, dense, experts, par)
    stragglers = expected_straggler_delay(gpus, "normal", spec.jitter_s) if spec.jitter_s > 0 else 0.0
    breakdown = {"compute": m * compute_micro,
                 **{f"exposed {kind.upper()} comm": t for kind, t in exposed.items()},
                 "pipeline bubble": bubble_micro_batches * micro,
                 "optimizer": optimizer, "stragglers": stragglers}
    step = pipeline + exposed["dp"] + optimizer + stragglers
    tokens = spec.global_batch * spec.seq
    flops = training_flops_per_token(model, spec.seq) * tokens
    recomputed = {"full": 1 / 3, "selective": 0.0, "none": 0.0}[memory.recompute]  # one extra forward of three passes
    hardware = flops * (1 + recomputed)
    peak = gpu.bf16_dense_flops
    notes = []
    if memory.recompute != "none":
        notes.append(f"activation recomputation '{memory.recompute}' ({'chosen so memory fits, ' if spec.recompute == 'auto' else ''}"
                     f"{memory.total / 2**30:,.1f} of {memory.hbm / 2**30:,.1f} GiB); recomputed FLOPs are not model FLOPs")
    return TrainingResult(model.name, gpus, par, m, memory.recompute, method, policy, step, breakdown, tokens, flops,
                          hardware, peak, memory, calls, notes)


def _exposed_data_parallel(calls: list[CommCall], stage, overlapped: bool, micro_batches: int) -> float:
    """DP time not hidden behind compute (seconds per step)."""
    per_step_rs = sum(c.time_s * c.per_step for c in calls if c.kind == "dp" and c.op != "all_gather")
    per_step_ag = sum(c.time_s * c.per_step for c in calls if c.kind == "dp" and c.op == "all_gather")
    per_micro = sum(c.time_s * c.per_micro_batch for c in calls if c.kind == "dp")
    if not overlapped:
        return per_step_rs + per_step_ag + micro_batches * per_micro
    exposed = max(0.0, per_step_rs - stage.backward_s) + max(0.0, per_step_ag - stage.forward_s)
    exposed += micro_batches * max(0.0, per_micro - (stage.forward_s + stage.backward_s))
    return exposed
