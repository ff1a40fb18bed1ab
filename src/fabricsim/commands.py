"""What the CLI and the web service share about each command: option names and the choices a command makes.

The web API's request bodies use the CLI's option names (``--gbs`` is ``gbs``); these functions turn
them into the Python API's keywords, so both front ends call :func:`fabricsim.workload.train` and
:func:`fabricsim.workload.infer` the same way.
"""

from __future__ import annotations

TRAIN_OPTIONS = ("model", "tp", "pp", "cp", "dp", "ep", "vpp", "schedule", "gbs", "seq", "micro_batch", "zero", "dp_shard",
                 "recompute", "recompute_layers", "software", "precision", "lb", "algo", "communication")
"""``fabricsim train`` options that set the job (besides --what-if, --search, --json)."""

INFER_OPTIONS = ("model", "prefill_gpus", "decode_gpus", "tp", "pp", "ep", "batch", "context", "output_tokens",
                 "context_cv", "output_tokens_cv", "requests", "lb", "mode", "software")
"""``fabricsim infer`` options."""

KEYWORDS = {"vpp": "virtual_stages", "schedule": "pipeline_schedule", "gbs": "global_batch", "lb": "load_balancing", "algo": "algorithm"}
"""Option names that differ from the Python API's keyword for the same thing."""


def api_keywords(options: dict, names: tuple[str, ...]) -> dict:
    """The Python API's keyword arguments for the options ``names`` (a missing option is None: the default)."""
    return {KEYWORDS.get(name, name): options.get(name) for name in names}


def reliability_overrides(days: float | None, runs: int | None) -> list[str]:
    """``--days`` and ``--runs`` of ``fabricsim reliability`` as ``--set`` overrides."""
    return [f"reliability.days={days}"] * (days is not None) + [f"reliability.runs={runs}"] * (runs is not None)


LAYOUT = ("tp", "pp", "cp", "dp", "ep", "virtual_stages", "micro_batch", "zero")
"""The parallel layout of a training job (Python API keywords): the user's if any of it is set, else fabricsim's."""


def layout_is_users(scenario, overrides: dict) -> bool:
    """Whether the job's layout was chosen by the user: any of :data:`LAYOUT` in the scenario's workload.train
    section or among the call's keyword overrides."""
    written = scenario.workload.train.model_fields_set
    return any(k in written or overrides.get(k) is not None for k in LAYOUT)


def train_step(scenario, overrides: dict, fabric=None):
    """One training step (:func:`fabricsim.workload.train`), the overrides it ran with, and the note saying
    the layout was searched (None when it was not).

    A layout the user wrote stands or fails as written.  The built-in scenario's layout (TP 8 x PP 16) is
    sized for its model, Llama 3 405B on thousands of GPUs: for another model, or where it does not fit
    the cluster, the parallelism search's fastest layout runs instead (``fabricsim train --search``) and the
    step's notes say so.  When no layout fits, the error says so."""
    from fabricsim.errors import FabricsimError
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.workload import effective_spec, model_entry, train
    from fabricsim.workload.recipe_checks import check_precision

    if layout_is_users(scenario, overrides):
        return train(scenario, fabric=fabric, **overrides), overrides, None
    default_model = scenario_from_dict({}).workload.train.model
    spec = effective_spec(scenario, "train", overrides)  # a bad setting is named here, not searched around
    model = spec.model
    model_entry(scenario, model, "workload.train.model")
    check_precision(spec.precision, scenario.catalog().get("gpus", scenario.cluster.gpu))
    reason = f"the default scenario's layout is sized for {default_model}, not {model}"
    if model == default_model:
        try:
            return train(scenario, fabric=fabric, **overrides), overrides, None
        except FabricsimError as exc:
            reason = f"the default scenario's layout does not fit this job ({exc})"
    from fabricsim.explore.search import search_parallelism

    job = {k: v for k, v in overrides.items() if v is not None}
    searched = scenario.model_copy(update={"workload": scenario.workload.model_copy(update={
        "train": scenario.workload.train.model_copy(update=job)})})
    try:
        best = search_parallelism(searched, top=1, flow_top=0).ranked[0]
    except FabricsimError as exc:
        raise FabricsimError(f"workload.train: no parallel layout runs this job ({reason}; the parallelism search "
                             f"finds none: {exc}); set workload.train.tp/pp/cp/dp or change the job") from None
    chosen = {**overrides, **best.settings}
    result = train(scenario, fabric=fabric, **chosen)
    note = (f"layout chosen by the parallelism search (fabricsim train --search ranks them): {best.label}; {reason}; "
            "set workload.train.tp/pp/cp/dp (--tp/--pp/--cp/--dp) to run your own")
    result.notes.append(note)
    return result, chosen, note


def infer_deployment(scenario, overrides: dict, fabric=None):
    """A serving run (:func:`fabricsim.workload.infer`), the overrides it ran with, and the note saying the
    deployment was chosen by fabricsim (None when it was not).

    A deployment the user wrote (any of mode, prefill/decode GPUs, tp, pp, ep) stands or fails as written.  The
    built-in scenario's (DeepSeek-V3 on 32 prefill + 64 decode GPUs) is kept for its own model where the cluster
    holds it; otherwise the fastest shape of :func:`fabricsim.explore.serving_search.search_deployment` serves,
    and the note names it and why."""
    from fabricsim.errors import FabricsimError
    from fabricsim.explore.serving_search import DEPLOYMENT, search_deployment
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.workload import effective_spec, infer, model_entry

    written = scenario.workload.infer.model_fields_set
    if any(k in written or overrides.get(k) is not None for k in DEPLOYMENT):
        return infer(scenario, fabric=fabric, **overrides), overrides, None
    default_model = scenario_from_dict({}).workload.infer.model
    model = effective_spec(scenario, "infer", overrides).model
    model_entry(scenario, model, "workload.infer.model")
    reason = f"the default scenario's deployment is sized for {default_model}, not {model}"
    if model == default_model:
        try:
            return infer(scenario, fabric=fabric, **overrides), overrides, None
        except FabricsimError as exc:
            reason = f"the default scenario's deployment does not fit this job ({exc})"
    shrink = "batch" not in written and overrides.get("batch") is None
    try:
        best = search_deployment(scenario, overrides, fabric, shrink_batch=shrink)
    except FabricsimError as exc:
        raise FabricsimError(f"workload.infer: no deployment serves this job ({reason}; {exc}); set "
                             "workload.infer.mode/tp/prefill_gpus/decode_gpus" + (" or a smaller batch" if not shrink else "")) from None
    chosen = {**overrides, **best.settings}
    note = (f"deployment chosen by fabricsim (the most output tokens/s per GPU of the shapes tried): {best.label}; "
            f"{reason}; set workload.infer.mode/tp/pp/prefill_gpus/decode_gpus (--mode/--tp/--pp/--prefill-gpus/"
            "--decode-gpus) to serve your own")
    return infer(scenario, fabric=fabric, **chosen), chosen, note


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
    result, overrides, _ = train_step(scenario, overrides)
    if not what_if:
        return result, None
    from fabricsim.workload.what_if import fabric_what_ifs

    stage("what-ifs")
    return result, fabric_what_ifs(scenario, overrides, result)
