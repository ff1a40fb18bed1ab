"""Checkpoint policy: checkpoint size, write time, optimal interval, restart time, hot spares.

Checkpoint size is the training state that must survive a restart, spelled out byte by byte per
parameter (mixed-precision Adam):

============================  =====  ==============================================
state                         bytes  note
============================  =====  ==============================================
weights, BF16                 2      what the forward pass reads
master weights, FP32          4      what the optimizer updates
Adam first moment m, FP32     4
Adam second moment v, FP32    4
============================  =====  ==============================================

= 14 bytes/param.  The often quoted "16 bytes/param" (ZeRO, Rajbhandari et al. 2020) is the
*in-memory* state and includes 2 bytes of BF16 gradients, which a checkpoint need not save.
Pass ``gradients_bf16=2`` (or any breakdown) to reproduce it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fabricsim.errors import FabricsimError

DEFAULT_BYTES_PER_PARAM: dict[str, float] = {
    "weights_bf16": 2.0,
    "master_fp32": 4.0,
    "adam_m_fp32": 4.0,
    "adam_v_fp32": 4.0,
}


def _positive(name: str, value, allow_zero: bool = False, allow_inf: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FabricsimError(f"{name}={value!r}: expected a number.") from None
    bad = math.isnan(value) or (math.isinf(value) and not allow_inf) or value < 0 or (value == 0 and not allow_zero)
    if bad:
        need = ">= 0" if allow_zero else "> 0"
        raise FabricsimError(f"{name}={value!r}: expected a finite number {need}.")
    return value


def checkpoint_bytes(parameters: float, bytes_per_param: dict[str, float] | None = None) -> float:
    """Bytes of one full checkpoint of a model with ``parameters`` parameters."""
    parameters = _positive("parameters", parameters)
    breakdown = DEFAULT_BYTES_PER_PARAM if bytes_per_param is None else bytes_per_param
    for key, value in breakdown.items():
        _positive(f"bytes_per_param[{key!r}]", value, allow_zero=True)
    total = sum(breakdown.values())
    if total <= 0:
        raise FabricsimError(f"bytes_per_param={breakdown!r}: the bytes per parameter must add up to > 0.")
    return parameters * total


@dataclass(frozen=True)
class CheckpointPolicy:
    """How a job checkpoints and restarts (all times in seconds, sizes in bytes).

    * ``size_bytes`` - one full checkpoint (see :func:`checkpoint_bytes`);
    * ``write_bytes_per_s`` - aggregate write bandwidth to storage;
    * ``blocking_fraction`` - share of the write during which training is paused (1 = fully
      blocking; asynchronous checkpointing snapshots to host memory and writes in background);
    * ``interval_s`` - compute time between checkpoints; ``None`` = Daly's optimum for the
      failure rate the caller passes;
    * ``job_restart_s`` - failure detection (watchdog timeout), scheduling, process launch and
      NCCL/communicator init after a failure;
    * ``read_bytes_per_s`` - aggregate read bandwidth to reload the checkpoint (defaults to the
      write bandwidth);
    * ``rewarm_s`` - time until steps run at full speed again (data loader, compilation caches);
    * ``spare_hosts`` - hot spares standing by; ``None`` = unlimited (a large shared pool);
    * ``spare_swap_s`` - time to swap a failed host for a spare.
    """

    size_bytes: float
    write_bytes_per_s: float
    blocking_fraction: float = 1.0
    interval_s: float | None = None
    job_restart_s: float = 600.0
    read_bytes_per_s: float | None = None
    rewarm_s: float = 120.0
    spare_hosts: int | None = None
    spare_swap_s: float = 300.0
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive("size_bytes", self.size_bytes)
        if not (isinstance(self.write_bytes_per_s, (int, float)) and self.write_bytes_per_s > 0):
            raise FabricsimError(
                f"write_bytes_per_s={self.write_bytes_per_s!r}: storage write bandwidth must be > 0 bytes/s "
                f"(a checkpoint could never be written)."
            )
        _positive("write_bytes_per_s", self.write_bytes_per_s)
        if self.read_bytes_per_s is not None:
            _positive("read_bytes_per_s", self.read_bytes_per_s)
        if not 0.0 <= float(self.blocking_fraction) <= 1.0:
            raise FabricsimError(f"blocking_fraction={self.blocking_fraction!r}: expected a fraction in [0, 1].")
        if self.interval_s is not None:
            _positive("interval_s", self.interval_s)
        _positive("job_restart_s", self.job_restart_s, allow_zero=True)
        _positive("rewarm_s", self.rewarm_s, allow_zero=True)
        _positive("spare_swap_s", self.spare_swap_s, allow_zero=True)
        if self.spare_hosts is not None and (not isinstance(self.spare_hosts, int) or self.spare_hosts < 0):
            raise FabricsimError(f"spare_hosts={self.spare_hosts!r}: expected a whole number >= 0, or None for unlimited.")

    @property
    def write_s(self) -> float:
        """Time to write one checkpoint to storage."""
        return self.size_bytes / self.write_bytes_per_s

    @property
    def blocking_s(self) -> float:
        """Training pause per checkpoint (delta in Young/Daly)."""
        return self.write_s * self.blocking_fraction

    @property
    def background_s(self) -> float:
        """Time after the pause until the checkpoint is durable (asynchronous tail)."""
        return self.write_s - self.blocking_s

    @property
    def reload_s(self) -> float:
        return self.size_bytes / (self.read_bytes_per_s or self.write_bytes_per_s)

    @property
    def restart_s(self) -> float:
        """Downtime of one interruption before useful steps resume (without waiting for hardware)."""
        return self.job_restart_s + self.reload_s + self.rewarm_s

    def interval_for(self, mtbi_s: float) -> float:
        """The checkpoint interval to use: the fixed one, or Daly's optimum for ``mtbi_s``."""
        if self.interval_s is not None:
            return float(self.interval_s)
        return daly_interval(max(self.blocking_s, 1e-9), mtbi_s)


def young_interval(delta_s: float, mtbi_s: float) -> float:
    """Young's optimal compute time between checkpoints: sqrt(2 delta M) (Young 1974)."""
    delta_s = _positive("checkpoint cost delta_s", delta_s)
    mtbi_s = _positive("mtbi_s", mtbi_s, allow_inf=True)
    return math.sqrt(2.0 * delta_s * mtbi_s)


def daly_interval(delta_s: float, mtbi_s: float) -> float:
    """Daly's higher-order optimum (Daly 2006, FGCS 22:303), restart cost excluded.

    tau = sqrt(2 delta M) [1 + (1/3) sqrt(delta/(2M)) + (1/9) delta/(2M)] - delta  for delta < 2M,
    else M.
    """
    delta_s = _positive("checkpoint cost delta_s", delta_s)
    mtbi_s = _positive("mtbi_s", mtbi_s, allow_inf=True)
    if math.isinf(mtbi_s):
        return math.inf
    if delta_s >= 2.0 * mtbi_s:
        return mtbi_s
    x = delta_s / (2.0 * mtbi_s)
    return math.sqrt(2.0 * delta_s * mtbi_s) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - delta_s


def first_order_waste(interval_s: float, delta_s: float, mtbi_s: float, restart_s: float = 0.0) -> float:
    """Expected fraction of wall time wasted, first order: delta/tau + (tau/2 + R)/M.

    (checkpoint pauses, plus per failure half an interval of lost work and the restart).
    Minimised over tau at Young's interval.
    """
    return delta_s / interval_s + (interval_s / 2.0 + restart_s) / mtbi_s


def exact_expected_wall_time(work_s: float, interval_s: float, delta_s: float, mtbi_s: float, restart_s: float = 0.0) -> float:
    """Expected wall time to finish ``work_s`` of compute with exponential failures (Daly 2006 eq. 13).

    T = M e^{R/M} (e^{(tau+delta)/M} - 1) work/tau; failures may strike during checkpoints and
    restarts.  Minimised over tau near Daly's interval.
    """
    m = mtbi_s
    return m * math.exp(restart_s / m) * math.expm1((interval_s + delta_s) / m) * work_s / interval_s


def spare_exhaustion_probability(spare_hosts: int | None, host_failures_per_hour: float, repair_hours: float) -> float:
    """Probability that every hot spare is in use when a host fails.

    Hosts in repair form an M/G/infinity queue: their number is Poisson with mean
    (host failure rate x repair time).  Spares run out when that number reaches ``spare_hosts``.
    """
    if spare_hosts is None:
        return 0.0
    from scipy.stats import poisson

    mean = host_failures_per_hour * repair_hours
    # P(N >= s) for N ~ Poisson(mean): the survival function at s - 1, in closed form (a term-by-term sum
    # loops spare_hosts times and underflows exp(-mean) for large pools)
    return float(min(1.0, max(0.0, poisson.sf(spare_hosts - 1, mean))))
