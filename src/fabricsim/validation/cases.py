"""Validation cases: published figures, as data, each with its source, setup and tolerance.

One YAML file per layer in ``validation/cases/``.  A case says what was measured (``what``), the
published number in SI units (``published``, ``unit``), where it was published (``source``),
whether fabricsim used it to set a parameter (``role: fitted``) or never saw it (``held-out``),
how close the model must land (``tolerance``: relative error; ``bound: lower`` for figures that are
"at least", ``bound: upper`` for "less than"), and how to reproduce it (``setup``: ``kind`` plus kind-specific fields, see runner).
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fabricsim.errors import FabricsimError, format_validation_error

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (ten times faster on the cases files), else PyYAML's."""
KINDS = ("plan", "collective", "pattern", "reliability", "training", "inference", "multisite", "torus", "scale_up",
         "gemm")


class Setup(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["plan", "collective", "pattern", "reliability", "training", "inference", "multisite", "torus",
                  "scale_up", "gemm"]
    scenario: dict = Field(default_factory=dict, description="input to fabricsim.scenario.scenario_from_dict")
    metric: str


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    what: str
    published: float
    unit: str
    source: str = Field(min_length=10)
    role: Literal["fitted", "held-out"]
    tolerance: float = Field(ge=0)
    bound: Literal["two-sided", "lower", "upper"] = "two-sided"
    setup: Setup
    note: str = ""
    layer: str = ""


DISPLAY = {"bytes/s": ("GB/s", 1e9), "FLOP/s": ("TFLOP/s", 1e12), "fraction": ("%", 0.01), "s": ("ms", 1e-3),
           "tokens/s": ("tokens/s", 1.0)}
"""How a case's SI unit is shown: (label, divisor)."""


LONG_SECONDS = 100.0
"""Case durations from this many seconds up (whole serving runs) are shown in seconds, not milliseconds."""


def display(value: float | None, unit: str, published: float | None = None) -> tuple[float | None, str]:
    """A case figure in its display unit: (scaled value or None, label); ``published``: the case's published figure,
    which picks the unit for both of its figures (seconds for a duration of ``LONG_SECONDS`` or more)."""
    label, divisor = DISPLAY.get(unit, (unit, 1.0))
    if unit == "s" and published is not None and abs(published) >= LONG_SECONDS:
        label, divisor = "s", 1.0
    return (None if value is None else value / divisor), label


def layers() -> list[str]:
    folder = resources.files("fabricsim.validation").joinpath("cases")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_cases(layer: str | None = None) -> list[Case]:
    """All cases (or one layer's), in file order; ids are unique across layers."""
    valid = layers()
    if layer is not None and layer not in valid:
        raise FabricsimError(f"--layer {layer!r}: valid layers are {', '.join(valid)}")
    out, seen = [], set()
    for name in ([layer] if layer else valid):
        text = resources.files("fabricsim.validation").joinpath("cases", f"{name}.yaml").read_text()
        try:
            data = yaml.load(text, Loader=_LOADER) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise FabricsimError(f"validation cases file {name}.yaml is not valid YAML ({where.strip() or 'position unknown'}): "
                                 f"{getattr(exc, 'problem', None) or exc}; a note with ': ' or a leading quote "
                                 "needs the whole value quoted") from None
        for i, raw in enumerate(data.get("cases", [])):
            try:
                case = Case.model_validate({**raw, "layer": name})
            except ValidationError as exc:
                raise FabricsimError(format_validation_error(exc, where=f"validation case {i} of {name}.yaml")) from None
            if case.id in seen:
                raise FabricsimError(f"validation case id {case.id!r} appears twice")
            seen.add(case.id)
            out.append(case)
    return out
