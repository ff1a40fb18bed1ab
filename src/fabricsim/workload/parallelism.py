"""Parallel degrees of a training job and where its ranks sit on the cluster's GPUs.

Ranks are numbered as Megatron and the Llama 3 paper (section 3.3.2, order [TP, CP, PP, DP])
number them: the dimensions of ``order`` (fastest first, default ``tp-cp-pp-dp``) are the digits
of the rank, so TP groups are consecutive ranks (inside one server / scale-up domain) and the DP
groups of one TP index share a rail.  Expert parallelism
folds into data parallelism: an EP group is ``ep`` consecutive members of a DP group (Megatron's
``expert-model-parallel-size`` with expert tensor parallelism equal to ``tp``).

``placement`` maps ranks to GPUs: ``contiguous`` (rank r on GPU r: a fresh, unfragmented
allocation) or ``random-servers`` (whole servers handed out in random order: a fragmented
cluster whose scheduler keeps servers whole but ignores the network).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.errors import FabricsimError

DIMENSIONS = ("tp", "cp", "dp", "pp")
PLACEMENTS = ("contiguous", "random-servers")


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

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.cp * self.dp


def check_parallelism(par: Parallelism, gpus: int, model, gpus_per_domain: int) -> None:
    """Raise a FabricsimError naming the degree that does not fit the cluster or the model."""
    for name in ("tp", "pp", "cp", "dp", "ep", "virtual_stages"):
        value = getattr(par, name)
        if value < 1:
            raise FabricsimError(f"workload.train.{name}={value}: parallel degrees must be >= 1")
    if par.zero not in (0, 1, 2, 3):
        raise FabricsimError(f"workload.train.zero={par.zero}: valid ZeRO stages are 0, 1, 2, 3")
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
            f"valid tp: {', '.join(str(d) for d in _divisors(model.attention_heads) if d <= 64)}")
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
                f"valid ep: {', '.join(str(d) for d in _divisors(experts))}")
        if (par.dp * par.cp) % par.ep:
            raise FabricsimError(
                f"workload.train.ep={par.ep} must divide dp x cp = {par.dp * par.cp} (experts are spread "
                f"over data-parallel ranks)")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class RankGroups:
    """GPU indices of every communicator, one row per group (rank order within the row)."""

    tp: np.ndarray  # (gpus/tp) x tp
    cp: np.ndarray
    dp: np.ndarray
    ep: np.ndarray
    dp_cp: np.ndarray  # gradient-reduction groups: dp x cp ranks holding the same weights
    pp: np.ndarray  # (gpus/pp) x pp: row = one pipeline, column = stage
    gpu_of_rank: np.ndarray


def rank_groups(par: Parallelism, order: str = "tp-cp-pp-dp", placement: str = "contiguous",
                gpus_per_server: int = 8, seed: int = 0) -> RankGroups:
    """Communicator groups as GPU-index matrices for a rank ``order`` and ``placement``."""
    dims = order.split("-")
    if sorted(dims) != sorted(DIMENSIONS):
        raise FabricsimError(f"workload.train.order={order!r}: give each of {', '.join(DIMENSIONS)} once, "
                             f"fastest-varying first, e.g. 'tp-cp-pp-dp'")
    if placement not in PLACEMENTS:
        raise FabricsimError(f"workload.train.placement={placement!r}: valid placements are {', '.join(PLACEMENTS)}")
    gpus = par.gpus
    gpu_of_rank = np.arange(gpus, dtype=np.int64)
    if placement == "random-servers":
        if gpus % gpus_per_server:
            raise FabricsimError(f"random-servers placement needs whole servers of {gpus_per_server} GPUs")
        servers = np.random.default_rng(seed).permutation(gpus // gpus_per_server)
        gpu_of_rank = (servers[:, None] * gpus_per_server + np.arange(gpus_per_server)).ravel()
    sizes = {"tp": par.tp, "cp": par.cp, "dp": par.dp, "pp": par.pp}
    # axis k of the grid is dims[-1-k] (slowest first), so rank = sum(index_d * stride_d)
    grid = gpu_of_rank.reshape([sizes[d] for d in reversed(dims)])

    def groups(name: str) -> np.ndarray:
        axis = len(dims) - 1 - dims.index(name)
        return np.moveaxis(grid, axis, -1).reshape(-1, sizes[name])

    dp = groups("dp")
    # experts spread over dp x cp; an EP group is ep consecutive members of the dp (then cp) dimension
    dp_cp = np.moveaxis(grid, [len(dims) - 1 - dims.index("cp"), len(dims) - 1 - dims.index("dp")],
                        [-2, -1]).reshape(-1, par.dp * par.cp)
    ep = dp_cp.reshape(-1, par.ep) if par.ep > 1 else dp_cp.reshape(-1, 1)
    return RankGroups(groups("tp"), groups("cp"), dp, ep, dp_cp, groups("pp"), gpu_of_rank)

