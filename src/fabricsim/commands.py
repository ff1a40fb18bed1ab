"""What the CLI and the web service share about each command: option names and the choices a command makes.

The web API's request bodies use the CLI's option names (``--gbs`` is ``gbs``); these functions turn
them into the Python API's keywords, so both front ends call :func:`fabricsim.workload.train` and
:func:`fabricsim.workload.infer` the same way.
"""

from __future__ import annotations

TRAIN_OPTIONS = ("model", "tp", "pp", "cp", "dp", "ep", "vpp", "gbs", "seq", "micro_batch", "zero", "recompute",
                 "recompute_layers", "software", "precision", "lb", "algo", "communication")
"""``fabricsim train`` options that set the job (besides --what-if, --search, --json)."""

INFER_OPTIONS = ("model", "prefill_gpus", "decode_gpus", "tp", "ep", "batch", "context", "output_tokens", "lb", "mode",
                 "software")
"""``fabricsim infer`` options."""

KEYWORDS = {"vpp": "virtual_stages", "gbs": "global_batch", "lb": "load_balancing", "algo": "algorithm"}
"""Option names that differ from the Python API's keyword for the same thing."""


def api_keywords(options: dict, names: tuple[str, ...]) -> dict:
    """The Python API's keyword arguments for the options ``names`` (a missing option is None: the default)."""
    return {KEYWORDS.get(name, name): options.get(name) for name in names}


def reliability_overrides(days: float | None, runs: int | None) -> list[str]:
    """``--days`` and ``--runs`` of ``fabricsim reliability`` as ``--set`` overrides."""
    return [f"reliability.days={days}"] * (days is not None) + [f"reliability.runs={runs}"] * (runs is not None)


def what_ifs(scenario, overrides: dict, base) -> list[dict]:
    """``train --what-if``: the DCI's what-ifs for a multi-site scenario, else the fabric's."""
    if scenario.sites is not None:
        from fabricsim.workload.multisite_what_if import sites_what_ifs

        return sites_what_ifs(scenario, overrides, base)
    from fabricsim.workload.what_if import fabric_what_ifs

    return fabric_what_ifs(scenario, overrides, base)
