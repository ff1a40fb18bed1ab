"""Parallel degrees of a training job and where its ranks sit on the cluster's GPUs.

Ranks are numbered as Megatron numbers them: the dimensions of ``order`` (fastest first, default
Megatron-Core's ``tp-cp-ep-dp-pp``; the Llama 3 paper used ``tp-cp-pp-dp``, section 3.3.2) are the
digits of the rank, so TP groups are consecutive ranks (inside one server / scale-up domain).
Expert parallelism folds into the tp x cp x dp ranks of each pipeline stage (Megatron-Core MoE
parallel folding): with ``ep`` before ``dp`` in the order, an EP group is ``ep`` nearby ranks
(times ``expert_tp``), so it stays inside a scale-up domain when it fits.

``placement`` maps ranks to GPUs: ``contiguous`` (rank r on GPU r: a fresh, unfragmented
allocation), ``random-servers`` (whole servers handed out in random order: a fragmented
cluster whose scheduler keeps servers whole but ignores the network), ``domain-aligned`` (whole
EP/TP groups per scale-up domain, leaving the remainder of a 72-GPU rack idle) or ``auto``
(domain-aligned when groups would otherwise straddle domains and the cluster has room).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.errors import FabricsimError

DIMENSIONS = ("tp", "cp", "dp", "pp")
DEFAULT_ORDER = "tp-cp-ep-dp-pp"
"""Megatron-Core's default rank order (``parallel_state.initialize_model_parallel(order=...)``)."""
PLACEMENTS = ("contiguous", "random-servers", "domain-aligned", "auto")


@dataclass(frozen=True)
class Parallelism:
    """Degrees of each kind of parallelism (their product is the GPU count, EP excepted)."""

    tp: int = 1
    pp: int = 1
    cp: int = 1
    dp: int = 1
    ep: int = 1
    virtual_stages: int = 1  # interleaved 1F1B: model chunks per pipeline stage
    zero: int = 1  # 0 plain DP, 1 optimizer states sharded, 2 +gradients, 3 +weights (FSDP)
    sequence_parallel: bool = True
    etp: int = 1  # expert tensor parallelism: each routed expert's width split over etp GPUs
    dp_shard: int = 0  # HSDP: data-parallel ranks of one ZeRO-3 shard group (0: all dp ranks, FULL_SHARD)

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def zero_shards(self) -> int:
        """Ranks a ZeRO-sharded dense tensor is split over: dp x cp, or under hybrid sharding dp_shard x cp."""
        return (self.dp_shard or self.dp) * self.cp

    @property
    def hybrid(self) -> bool:
        """Hybrid sharding: shard groups of dp_shard ranks that replicate each other."""
        return 0 < self.dp_shard < self.dp

    @property
    def expert_data_parallel(self) -> int:
        """Ranks of a pipeline stage holding the same routed experts, ``tp x cp x dp / (ep x etp)`` (at
        least 1): ZeRO shards the experts' state over them and they reduce the experts' gradients."""
        return max(1, self.tp * self.cp * self.dp // (self.ep * self.etp))


def check_parallelism(par: Parallelism, gpus: int, model, gpus_per_domain: int) -> None:
    """Raise a FabricsimError naming the degree that does not fit the cluster or the model."""
    for name in ("tp", "pp", "cp", "dp", "ep", "virtual_stages"):
        value = getattr(par, name)
        if value < 1:
            raise FabricsimError(f"workload.train.{name}={value}: parallel degrees must be >= 1")
    if par.zero not in (0, 1, 2, 3):
        raise FabricsimError(f"workload.train.zero={par.zero}: valid ZeRO stages are 0, 1, 2, 3")
    if par.dp_shard and (par.dp % par.dp_shard or par.dp_shard > par.dp):
        valid = divisors(par.dp)
        raise FabricsimError(f"workload.train.dp_shard={par.dp_shard} must divide dp={par.dp} (shard groups of equal "
                             f"size that replicate each other); valid: {', '.join(map(str, valid[:12]))}"
                             + (", ..." if len(valid) > 12 else ""))
    if par.hybrid and par.ep > 1:
        raise FabricsimError(f"workload.train.dp_shard={par.dp_shard} with ep={par.ep}: hybrid sharding of the routed "
                             "experts is not modelled; drop dp_shard or ep")
    if par.gpus != gpus:
        hint = f"; with tp={par.tp}, pp={par.pp}, cp={par.cp} use dp={gpus // (par.tp * par.pp * par.cp)}" \
            if gpus % (par.tp * par.pp * par.cp) == 0 else ""
        raise FabricsimError(
            f"workload.train: tp x pp x cp x dp = {par.tp} x {par.pp} x {par.cp} x {par.dp} = {par.gpus:,} GPUs, "
            f"but the cluster has {gpus:,} (cluster.gpus){hint}")
    if gpus_per_domain % par.tp and par.tp % gpus_per_domain:
        raise FabricsimError(
            f"workload.train.tp={par.tp} does not tile the {gpus_per_domain}-GPU scale-up domain; "
            f"use a divisor of {gpus_per_domain} (TP belongs on the scale-up fabric)")
    if model.attention_heads % par.tp:
        raise FabricsimError(
            f"workload.train.tp={par.tp} does not divide {model.name}'s {model.attention_heads} attention heads; "
            f"valid tp: {', '.join(str(d) for d in divisors(model.attention_heads) if d <= 64)}")
    if model.layers < par.pp:
        raise FabricsimError(f"workload.train.pp={par.pp}: {model.name} has only {model.layers} layers")
    per_stage = -(-model.layers // par.pp)
    if par.virtual_stages > per_stage:
        raise FabricsimError(
            f"workload.train.virtual_stages={par.virtual_stages}: the busiest of pp={par.pp} stages holds "
            f"{per_stage} of {model.name}'s {model.layers} layers, so at most {per_stage} model chunks per stage")
    if par.ep > 1:
        experts = model.routed_experts or 0
        if experts == 0:
            raise FabricsimError(f"workload.train.ep={par.ep}: {model.name} is dense (no experts); use ep=1")
        if experts % par.ep:
            raise FabricsimError(
                f"workload.train.ep={par.ep} does not divide {model.name}'s {experts} routed experts; "
                f"valid ep: {', '.join(str(d) for d in divisors(experts))}")
        if not experts_fold(par):
            raise FabricsimError(
                f"workload.train.ep={par.ep} x expert_tp={par.etp} must divide tp x cp x dp = "
                f"{par.tp * par.dp * par.cp} (experts fold into the ranks of each pipeline stage)")


def experts_fold(par: Parallelism) -> bool:
    """Whether groups of ``ep x etp`` expert ranks tile the ``tp x cp x dp`` ranks of a pipeline stage
    (Megatron-Core's MoE parallel folding)."""
    return (par.tp * par.dp * par.cp) % (par.ep * par.etp) == 0


def divisors(n: int) -> list[int]:
    """Every divisor of ``n``, smallest first."""
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class RankGroups:
    """GPU indices of every communicator, one row per group (rank order within the row)."""

    tp: np.ndarray  # (gpus/tp) x tp
    cp: np.ndarray
    dp: np.ndarray
    ep: np.ndarray  # expert-parallel groups (token all-to-all)
    dp_cp: np.ndarray  # gradient-reduction groups: dp x cp ranks holding the same weights
    pp: np.ndarray  # (gpus/pp) x pp: row = one pipeline, column = stage
    gpu_of_rank: np.ndarray
    edp: np.ndarray | None = None  # expert data-parallel groups: ranks holding the same experts


def parse_order(order: str) -> tuple[list[str], bool]:
    """(the four dense dimensions fastest first, whether EP takes the faster-varying ranks before DP)."""
    names = order.split("-")
    dims = [d for d in names if d != "ep"]
    if sorted(dims) != sorted(DIMENSIONS) or names.count("ep") > 1:
        raise FabricsimError(f"workload.train.order={order!r}: give each of {', '.join(DIMENSIONS)} once (and ep at "
                             f"most once), fastest-varying first, e.g. '{DEFAULT_ORDER}'")
    return dims, "ep" not in names or names.index("ep") < names.index("dp")


def place_ranks(gpus: int, placement: str, gpus_per_server: int = 8, domain: int = 0, unit: int = 1,
                cluster_gpus: int | None = None, seed: int = 0, domain_gpus: int | None = None) -> np.ndarray:
    """GPU index of every rank.

    ``contiguous``: rank r on GPU r.  ``random-servers``: whole servers in random order.
    ``domain-aligned``: each scale-up domain of ``domain`` GPUs takes as many whole groups of ``unit``
    consecutive ranks as fit (e.g. 64 of a 72-GPU NVL72 rack for expert groups of 64), the rest stay idle.
    ``auto``: domain-aligned when groups of ``unit`` do not tile the domain and the cluster has the room,
    else contiguous.  ``domain_gpus``: the job takes exactly this many GPUs (whole servers) of every scale-up
    domain, consecutive ranks filling one domain before the next (Slurm's ``--segment``: NVIDIA runs jobs on 16 of
    an NVL72 rack's 18 compute trays, 64 GPUs, keeping two as spares); it replaces the placement's own choice."""
    cluster_gpus = cluster_gpus or gpus
    if placement not in PLACEMENTS:
        raise FabricsimError(f"workload.train.placement={placement!r}: valid placements are {', '.join(PLACEMENTS)}")
    if domain_gpus is not None:
        return _segments(gpus, placement, gpus_per_server, domain, cluster_gpus, domain_gpus)
    if placement == "auto":
        fits = domain and unit <= domain and domain % unit
        need = -(-gpus // (domain // unit * unit)) * domain if fits else gpus
        placement = "domain-aligned" if fits and need <= cluster_gpus else "contiguous"
    if placement == "random-servers":
        if gpus % gpus_per_server:
            raise FabricsimError(f"random-servers placement needs whole servers of {gpus_per_server} GPUs")
        servers = np.random.default_rng(seed).permutation(gpus // gpus_per_server)
        return (servers[:, None] * gpus_per_server + np.arange(gpus_per_server)).ravel()
    if placement == "domain-aligned" and domain and unit <= domain:
        per_domain = domain // unit * unit
        return _fill_domains(gpus, domain, per_domain, cluster_gpus,
                             f"workload.train.placement=domain-aligned: {gpus:,} ranks in groups of {unit} use "
                             f"{per_domain} of each {domain}-GPU scale-up domain and")
    return np.arange(gpus, dtype=np.int64)


def _fill_domains(gpus: int, domain: int, per_domain: int, cluster_gpus: int, why: str) -> np.ndarray:
    """Rank r on slot ``r % per_domain`` of scale-up domain ``r // per_domain``; refused, after ``why``, when the
    last rank lands beyond the cluster."""
    rank = np.arange(gpus, dtype=np.int64)
    mapped = rank // per_domain * domain + rank % per_domain
    if mapped[-1] >= cluster_gpus:
        raise FabricsimError(f"{why} need {-(-gpus // per_domain) * domain:,} GPUs; the cluster has {cluster_gpus:,} "
                             "(raise cluster.gpus)")
    return mapped


def _segments(gpus: int, placement: str, gpus_per_server: int, domain: int, cluster_gpus: int,
              domain_gpus: int) -> np.ndarray:
    """``domain_gpus`` of every scale-up domain, checked (see :func:`place_ranks`)."""
    field = f"workload.train.domain_gpus={domain_gpus}"
    if placement == "random-servers":
        raise FabricsimError(f"{field} fills each scale-up domain in rank order; placement random-servers scatters "
                             "servers instead: use one or the other")
    if not domain or domain_gpus > domain:
        raise FabricsimError(f"{field}: a scale-up domain of this cluster holds {domain or gpus_per_server} GPUs; "
                             "give at most that many")
    if domain_gpus % gpus_per_server:
        raise FabricsimError(f"{field}: the job takes whole servers of {gpus_per_server} GPUs from a domain; give a "
                             f"multiple of {gpus_per_server} (e.g. {max(gpus_per_server, domain_gpus // gpus_per_server * gpus_per_server)})")
    return _fill_domains(gpus, domain, domain_gpus, cluster_gpus,
                         f"{field}: {gpus:,} ranks at {domain_gpus} per {domain}-GPU scale-up domain")


def hybrid_groups(dp_cp: np.ndarray, dp: int, cp: int, dp_shard: int) -> tuple[np.ndarray, np.ndarray]:
    """(shard groups, replicate groups) of hybrid sharding from the dp x cp gradient groups (each row cp-major,
    dp-minor): a shard group is ``dp_shard`` neighbouring data-parallel ranks with all their cp ranks (torchtitan's
    FSDP mesh dp_shard x cp); a replicate group holds the ranks at one position of every shard group."""
    rows = dp_cp.reshape(-1, cp, dp // dp_shard, dp_shard)
    shard = rows.transpose(0, 2, 1, 3).reshape(-1, cp * dp_shard)
    replicate = rows.transpose(0, 1, 3, 2).reshape(-1, dp // dp_shard)
    return shard, replicate


def rank_groups(par: Parallelism, order: str = "tp-cp-ep-dp-pp", placement: str = "contiguous",
                gpus_per_server: int = 8, seed: int = 0, domain: int = 0,
                cluster_gpus: int | None = None, domain_gpus: int | None = None) -> RankGroups:
    """Communicator groups as GPU-index matrices for a rank ``order`` and ``placement``.

    Expert parallelism folds into the tp x cp x dp ranks of each pipeline stage (Megatron-Core's
    MoE parallel folding): within a stage, ranks in rank order form ``edp x ep x etp`` when ``ep``
    comes before ``dp`` in the order (EP groups of nearby ranks, inside a node when they fit),
    ``ep x edp x etp`` otherwise."""
    dims, ep_inner = parse_order(order)
    unit = par.ep * par.etp if par.ep > 1 else par.tp
    gpu_of_rank = place_ranks(par.gpus, placement, gpus_per_server, domain, unit, cluster_gpus, seed, domain_gpus)
    sizes = {"tp": par.tp, "cp": par.cp, "dp": par.dp, "pp": par.pp}
    # axis k of the grid is dims[-1-k] (slowest first), so rank = sum(index_d * stride_d)
    grid = gpu_of_rank.reshape([sizes[d] for d in reversed(dims)])

    def groups(name: str) -> np.ndarray:
        axis = len(dims) - 1 - dims.index(name)
        return np.moveaxis(grid, axis, -1).reshape(-1, sizes[name])

    dp_cp = np.moveaxis(grid, [len(dims) - 1 - dims.index("cp"), len(dims) - 1 - dims.index("dp")],
                        [-2, -1]).reshape(-1, par.dp * par.cp)
    slab = np.moveaxis(grid, len(dims) - 1 - dims.index("pp"), 0).reshape(par.pp, -1)  # each stage, rank order
    # without EP the stage's ranks form one group (expert TP only applies to expert-parallel layouts)
    etp, edp = (par.etp, par.expert_data_parallel) if par.ep > 1 else (1, slab.shape[1])
    if ep_inner:
        experts = slab.reshape(par.pp, edp, par.ep, etp)
    else:
        experts = slab.reshape(par.pp, par.ep, edp, etp).transpose(0, 2, 1, 3)
    ep = np.moveaxis(experts, 2, -1).reshape(-1, par.ep)
    expert_dp = np.moveaxis(experts, 1, -1).reshape(-1, edp)
    return RankGroups(groups("tp"), groups("cp"), groups("dp"), ep, dp_cp, groups("pp"), gpu_of_rank, expert_dp)
