"""What the CLI and the web service share about each command: option names and the choices a command makes.

The web API's request bodies use the CLI's option names (``--gbs`` is ``gbs``); these functions turn
them into the Python API's keywords, so both front ends call :func:`fabricsim.workload.train` and
:func:`fabricsim.workload.infer` the same way.
"""

from __future__ import annotations

TRAIN_OPTIONS = ("model", "tp", "pp", "cp", "dp", "ep", "vpp", "schedule", "gbs", "seq", "micro_batch", "zero", "recompute",
                 "recompute_layers", "software", "precision", "lb", "algo", "communication")
"""``fabricsim train`` options that set the job (besides --what-if, --search, --json)."""

INFER_OPTIONS = ("model", "prefill_gpus", "decode_gpus", "tp", "pp", "ep", "batch", "context", "output_tokens", "lb", "mode",
                 "software")
"""``fabricsim infer`` options."""

KEYWORDS = {"vpp": "virtual_stages", "schedule": "pipeline_schedule", "gbs": "global_batch", "lb": "load_balancing", "algo": "algorithm"}
"""Option names that differ from the Python API's keyword for the same thing."""


def api_keywords(options: dict, names: tuple[str, ...]) -> dict:
    """The Python API's keyword arguments for the options ``names`` (a missing option is None: the default)."""
    return {KEYWORDS.get(name, name): options.get(name) for name in names}


def reliability_overrides(days: float | None, runs: int | None) -> list[str]:
    """``--days`` and ``--runs`` of ``fabricsim reliability`` as ``--set`` overrides."""
    return [f"reliability.days={days}"] * (days is not None) + [f"reliability.runs={runs}"] * (runs is not None)


def train_and_what_ifs(scenario, overrides: dict, what_if: bool, stage=None) -> tuple[object, list[dict] | None]:
    """One training step and, with ``what_if``, its what-ifs (rows): the DCI's for a multi-site scenario, whose
    step then comes from the same study (one run across the sites, not two), else the fabric's.  ``stage(what)``
    names the work in progress."""
    stage = stage or (lambda what: None)
    stage("timing one step")
    if what_if and scenario.sites is not None:
        from fabricsim.workload.multisite_what_if import sites_study, sites_what_ifs

        study = sites_study(scenario, overrides)
        stage("what-ifs")
        return study.result, sites_what_ifs(scenario, overrides, study)
    from fabricsim.workload import train

    result = train(scenario, **overrides)
    if not what_if:
        return result, None
    from fabricsim.workload.what_if import fabric_what_ifs

    stage("what-ifs")
    return result, fabric_what_ifs(scenario, overrides, result)
