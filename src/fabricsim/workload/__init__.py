"""Workloads on the fabric: an LLM training step and a disaggregated inference deployment.

    from fabricsim.workload import train, infer
    step = train("examples/16k-h100-ndr.yaml", model="llama3-405b", tp=8, pp=16, dp=128)
    step.mfu, step.step_time_s, step.breakdown_s
    serve = infer("examples/nvl72-gb200.yaml", model="deepseek-v3", prefill_gpus=32, decode_gpus=40)
    serve.ttft_s, serve.tpot_s, serve.tokens_per_s_per_gpu

Keyword arguments override the scenario's ``workload.train`` / ``workload.infer`` fields.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from fabricsim.errors import FabricsimError, format_validation_error
from fabricsim.catalog.loader import unknown_name_message
from fabricsim.scenario import Scenario, load_scenario, scenario_from_dict


def _scenario(scenario) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return scenario_from_dict(scenario)
    return load_scenario(scenario if scenario is None else Path(scenario))


def _spec(section, overrides: dict, where: str):
    data = section.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return type(section).model_validate(data)
    except ValidationError as exc:
        raise FabricsimError(format_validation_error(exc, prefix=where)) from None


def effective_spec(scenario, section: str, overrides: dict):
    """The ``workload.<section>`` settings a run uses (``train`` or ``infer``): the scenario's, with the call's
    keyword overrides applied and validated as :func:`train` and :func:`infer` apply them."""
    return _spec(getattr(scenario.workload, section), overrides, f"workload.{section}")


def catalog_entry(scenario: Scenario, section: str, name: str, field: str):
    """The entry called ``name`` in the scenario's catalog ``section``; an unknown name raises an error
    that starts with the scenario ``field`` naming it and lists the valid names (exit code 2 in the CLI)."""
    entries = scenario.catalog().sections.get(section, {})
    if name not in entries:
        raise FabricsimError(f"{field}: " + unknown_name_message(section, name, entries))
    return entries[name]


def model_entry(scenario: Scenario, name: str, field: str):
    """The catalog model called ``name``; an unknown name lists the valid ones (exit code 2 in the CLI)."""
    return catalog_entry(scenario, "models", name, field)


def train(scenario=None, fabric=None, **overrides):
    """Simulate one training step; returns a :class:`fabricsim.workload.training.TrainingResult`.

    ``fabric``: an already built :class:`fabricsim.topology.fabric.Fabric` of the scenario (reused)."""
    from fabricsim.workload.training import train_on_scenario

    scenario = _scenario(scenario)
    spec = _spec(scenario.workload.train, overrides, "workload.train")
    return train_on_scenario(scenario, spec, model_entry(scenario, spec.model, "workload.train.model"), fabric)


def infer(scenario=None, fabric=None, **overrides):
    """Simulate a disaggregated serving deployment; returns an :class:`fabricsim.workload.inference.InferenceResult`."""
    from fabricsim.workload.inference import serve

    scenario = _scenario(scenario)
    spec = _spec(scenario.workload.infer, overrides, "workload.infer")
    return serve(scenario, spec, model_entry(scenario, spec.model, "workload.infer.model"), fabric)


__all__ = ["train", "infer", "model_entry", "catalog_entry", "effective_spec"]
