"""Request bodies of the web API: a scenario (the YAML schema, as JSON) plus the CLI command's options.

Option names are the CLI's (``--prefill-gpus`` is ``prefill_gpus``); ``set`` takes the CLI's
``--set path=value`` overrides.  The scenario is validated by the same code as a scenario file, so a
bad field gets the message the CLI prints.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from fabricsim.commands import INFER_OPTIONS, TRAIN_OPTIONS, api_keywords
from fabricsim.errors import FabricsimError
from fabricsim.scenario import Scenario, apply_overrides, scenario_from_dict


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: dict[str, Any] = Field(
        default_factory=dict, description="a scenario: the schema of the YAML files (GET /api/schema), as JSON; "
        "{} is the built-in default")
    set: list[str] = Field(default_factory=list, description="overrides as the CLI's --set: ['fabric.optics=cpo']")

    def options(self) -> dict:
        """The command's options (everything but the scenario)."""
        return self.model_dump(exclude={"scenario", "set"})


class PlanBody(_Body):
    compare_optics: bool = Field(True, description="also plan the fabric with each optics family")
    count_only: bool = Field(False, description="count the fabric instead of materialising its link arrays")
    evidence: bool = Field(True, description="also re-run the published reference designs nearest this plan and "
                           "give fabricsim's error on each (the CLI's --evidence/--no-evidence)")


class RunBody(_Body):
    evidence: bool = Field(True, description="also re-run the published measurements nearest the training step and "
                           "give fabricsim's error on each (the CLI's --evidence/--no-evidence)")


class ReliabilityBody(_Body):
    days: Optional[float] = Field(None, description="run length, days (default: reliability.days)")
    runs: Optional[int] = Field(None, description="Monte Carlo runs (default: reliability.runs)")
    compare_optics: bool = Field(True, description="also judge each optics family by its failures")
    evidence: bool = Field(True, description="also re-run the published failure figures nearest this cluster and "
                           "give fabricsim's error on each (the CLI's --evidence/--no-evidence)")


class TrainBody(_Body):
    model: Optional[str] = None
    tp: Optional[int] = None
    pp: Optional[int] = None
    cp: Optional[int] = None
    dp: Optional[int] = None
    ep: Optional[int] = None
    vpp: Optional[int] = Field(None, description="virtual pipeline stages")
    schedule: Optional[str] = Field(None, description="pipeline schedule: 1f1b or dualpipe")
    gbs: Optional[int] = Field(None, description="global batch, sequences")
    seq: Optional[int] = None
    micro_batch: Optional[int] = None
    zero: Optional[int] = None
    recompute: Optional[str] = None
    recompute_layers: Optional[int] = None
    software: Optional[str] = Field(None, description="software profile, e.g. megatron-core-2025, llama3-2024")
    precision: Optional[str] = Field(None, description="bf16 or fp8")
    lb: Optional[str] = Field(None, description="load balancing: ecmp, spray, adaptive, flowlet, ideal")
    algo: Optional[str] = None
    communication: Optional[str] = Field(None, description="auto, flow, analytic")
    what_if: bool = Field(False, description="also rerun with spraying, in-network reduction, 2:1 oversubscription")
    evidence: bool = Field(True, description="also re-run the published measurements nearest this run and give "
                           "fabricsim's error on each (the CLI's --evidence/--no-evidence)")

    def overrides(self) -> dict:
        """Keyword arguments of :func:`fabricsim.workload.train` (the CLI's mapping of its options)."""
        return api_keywords(self.options(), TRAIN_OPTIONS)


class InferBody(_Body):
    model: Optional[str] = None
    prefill_gpus: Optional[int] = None
    decode_gpus: Optional[int] = None
    tp: Optional[int] = None
    ep: Optional[int] = None
    batch: Optional[int] = None
    context: Optional[int] = None
    output_tokens: Optional[int] = None
    context_cv: Optional[float] = Field(None, description="spread of prompt lengths: standard deviation / mean")
    output_tokens_cv: Optional[float] = Field(None, description="spread of output lengths: standard deviation / mean")
    requests: Optional[int] = Field(None, description="requests a finite benchmark serves in all, batch in flight at a time")
    lb: Optional[str] = None
    mode: Optional[str] = None
    software: Optional[str] = None
    evidence: bool = Field(True, description="also re-run the published measurements nearest this run and give "
                           "fabricsim's error on each (the CLI's --evidence/--no-evidence)")

    def overrides(self) -> dict:
        """Keyword arguments of :func:`fabricsim.workload.infer`."""
        return api_keywords(self.options(), INFER_OPTIONS)


class CollectiveBody(_Body):
    op: str = Field("all_reduce", description="all_reduce, reduce_scatter, all_gather, broadcast, all_to_all, "
                    "send_recv")
    algo: Optional[str] = None
    proto: Optional[str] = Field(None, description="ll, ll128, simple (default: the tuner's choice per size)")
    lb: Optional[str] = None
    sizes: str = Field("1MiB:1GiB", description="start:end (x2 steps), or a comma list")
    ranks: Optional[int] = Field(None, ge=1, description="ranks (default: every GPU)")
    placement: str = Field("contiguous", description="contiguous, random, one-per-node")
    channels: Optional[int] = Field(None, ge=1, le=64, description="rings (default: the library's ring search)")
    cross_rail: bool = False
    min_channels: Optional[int] = Field(None, ge=1, le=64, description="channels the kernels run on, at least "
                                        "(NCCL_MIN_NCHANNELS)")
    in_place: bool = Field(False, description="output buffer holds the input (nccl-tests' in-place columns)")
    gpus_per_thread: int = Field(1, ge=1, description="GPUs one host thread drives (nccl-tests -g): it issues their "
                                 "calls in turn, a floor on small messages")
    seed: int = Field(0, ge=0)
    fail_links: int = Field(0, ge=0, description="take this many random links down first (flow method)")
    fail_tier: int = Field(2, ge=1, le=3)
    method: str = Field("flow", description="flow (simulate every flow) or analytic (alpha-beta, any scale)")
    evidence: bool = Field(True, description="also re-run the published measurements nearest this run and give "
                           "fabricsim's error on each (the CLI's --evidence/--no-evidence)")


class YamlBody(_Body):
    pass


def scenario_data(body: _Body) -> dict:
    """The body's scenario with its ``set`` overrides applied, as a dict (what a worker re-validates).

    ``catalog_files`` is refused: it would read files on the server."""
    data = body.scenario
    if data.get("catalog_files"):
        raise FabricsimError("catalog_files: the web API does not read catalog files on the server; run "
                             "`fabricsim` locally for your own catalog")
    if body.set:
        data = apply_overrides(data, list(body.set))
        if data.get("catalog_files"):
            raise FabricsimError("catalog_files: the web API does not read catalog files on the server")
    return data


def where(body: _Body) -> str:
    """How the CLI's messages name the input: 'the request's scenario' (with its --set)."""
    return "the request's scenario" + (" with --set " + " ".join(body.set) if body.set else "")


def validated(body: _Body) -> tuple[dict, Scenario]:
    """(scenario dict, validated Scenario) of a body; bad input raises FabricsimError naming the field."""
    data = scenario_data(body)
    return data, scenario_from_dict(data, where=where(body))
