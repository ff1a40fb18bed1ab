"""The cost bound of every web request, checked before any work starts.

A request's cost is driven by a few numbers that are known from its scenario and options before
anything is simulated: the GPUs whose links are simulated flow by flow, the flows of one pairwise
phase (all-to-all), the Monte Carlo runs times the interruptions each run replays, and the length of
a size sweep.  Each has a limit here (server options of ``fabricsim serve``); a request over one gets
a :class:`LimitError` (HTTP 422) that names the limit, the value and what to change.

The defaults keep one request under ~15 s on one core of a 2-core machine (measured by
``benchmarks/bench_web_load.py``: ``fabricsim run`` on 65,536 GPUs ~15 s, a Monte Carlo of 10 M
run-interruptions ~5 s).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.errors import FabricsimError


class LimitError(FabricsimError):
    """A request whose cost is over one of this server's limits (``limit``: the limit's name)."""

    def __init__(self, message: str, limit: str):
        super().__init__(message)
        self.limit = limit

    def __reduce__(self):
        return LimitError, (str(self), self.limit)


@dataclass(frozen=True)
class Limits:
    """Most work one request may ask for.

    flow_gpus: GPUs of a fabric simulated flow by flow (link arrays built); ``auto`` choices above it
        are timed analytically, explicit ``flow`` requests above it are refused.
    pairwise_flows: flows of one all-to-all phase simulated flow by flow (ranks x (ranks - 1)).
    monte_carlo_runs: Monte Carlo runs of one reliability assessment.
    monte_carlo_events: runs x expected interruptions per run (the Monte Carlo's cost).
    sweep_sizes: message sizes of one collective sweep.
    body_bytes: size of a request body.
    queued_jobs: simulations waiting or running at once before the server answers 503.
    """

    flow_gpus: int = 65_536
    pairwise_flows: int = 1024 * 1023
    monte_carlo_runs: int = 10_000
    monte_carlo_events: float = 10e6
    sweep_sizes: int = 64
    body_bytes: int = 256 * 1024
    queued_jobs: int = 32

    def __post_init__(self):
        for name, value in vars(self).items():
            if not value > 0:
                flag = " (fabricsim serve --max-flow-gpus)" if name == "flow_gpus" else ""
                raise FabricsimError(f"limit {name}={value}{flag}: must be > 0")

    def check_flow_gpus(self, gpus: int, what: str) -> None:
        if gpus > self.flow_gpus:
            raise LimitError(f"{what}: simulating {gpus:,} GPUs flow by flow is over this server's limit of "
                             f"{self.flow_gpus:,} GPUs (limit flow_gpus; `fabricsim serve --max-flow-gpus N` "
                             "raises it); use the analytic method, or fewer GPUs", "flow_gpus")

    def check_pairwise(self, ranks: int, what: str) -> None:
        flows = ranks * (ranks - 1)
        if flows > self.pairwise_flows:
            raise LimitError(f"{what}: an all-to-all of {ranks:,} ranks has {flows:,} flows, over this server's "
                             f"limit of {self.pairwise_flows:,} flows per phase (limit pairwise_flows); use "
                             "fewer ranks or the analytic method", "pairwise_flows")

    def check_monte_carlo(self, runs: int, interruptions_per_run: float) -> None:
        if runs > self.monte_carlo_runs:
            raise LimitError(f"reliability.runs={runs:,}: over this server's limit of {self.monte_carlo_runs:,} "
                             "Monte Carlo runs (limit monte_carlo_runs)", "monte_carlo_runs")
        events = runs * interruptions_per_run
        if events > self.monte_carlo_events:
            most = max(1, int(self.monte_carlo_events // max(interruptions_per_run, 1e-9)))
            raise LimitError(f"reliability.runs={runs:,}: {runs:,} runs x {interruptions_per_run:,.0f} expected "
                             f"interruptions per run = {events:,.0f} events, over this server's limit of "
                             f"{self.monte_carlo_events:,.0f} (limit monte_carlo_events); use at most "
                             f"{most:,} runs, or fewer reliability.days", "monte_carlo_events")

    def check_sweep(self, sizes: list[int]) -> None:
        if len(sizes) > self.sweep_sizes:
            raise LimitError(f"sizes: a sweep of {len(sizes):,} message sizes is over this server's limit of "
                             f"{self.sweep_sizes} (limit sweep_sizes); use a shorter range or a comma list", "sweep_sizes")

    def as_dict(self) -> dict:
        return dict(vars(self))
