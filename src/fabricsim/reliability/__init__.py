"""fabricsim.reliability: component failure model, checkpointing, Monte Carlo of a run, goodput.

Plain functions on plain data:

* :mod:`.rates` - failure rates by component class (per-unit rates from censuses and field studies,
  plus a per-job term),
  :class:`ComponentCounts`, :func:`failure_rates`, :func:`mean_time_between_interruptions`,
  :func:`counts_for_gpu_cluster`;
* :mod:`.checkpoint` - checkpoint size, write time, Young/Daly intervals, restart, hot spares;
* :mod:`.montecarlo` - :func:`simulate_run`, vectorised across runs;
* :mod:`.goodput` - analytic expected goodput and the Llama-3-like reference.
"""

from fabricsim.reliability.checkpoint import (
    DEFAULT_BYTES_PER_PARAM,
    CheckpointPolicy,
    checkpoint_bytes,
    daly_interval,
    exact_expected_wall_time,
    first_order_waste,
    spare_exhaustion_probability,
    young_interval,
)
from fabricsim.reliability.goodput import class_table, expected_goodput, llama3_policy, llama3_reference
from fabricsim.reliability.montecarlo import RunResults, simulate_run
from fabricsim.reliability.rates import (
    CLASSES,
    LLAMA3_COUNTS,
    ComponentCounts,
    counts_for_gpu_cluster,
    failure_rates,
    interruptions_per_day,
    mean_time_between_interruptions,
    per_unit_rates,
)

__all__ = [
    "CLASSES",
    "DEFAULT_BYTES_PER_PARAM",
    "LLAMA3_COUNTS",
    "CheckpointPolicy",
    "ComponentCounts",
    "RunResults",
    "checkpoint_bytes",
    "class_table",
    "counts_for_gpu_cluster",
    "daly_interval",
    "exact_expected_wall_time",
    "expected_goodput",
    "failure_rates",
    "first_order_waste",
    "interruptions_per_day",
    "llama3_policy",
    "llama3_reference",
    "mean_time_between_interruptions",
    "per_unit_rates",
    "simulate_run",
    "spare_exhaustion_probability",
    "young_interval",
]
