"""The sweep file: a base scenario, the axes that vary, and what to measure at every point.

    name: optics vs cluster size
    base: ../examples/100k-b200-tomahawk6-lpo.yaml      # a path (relative to this file) or a mapping
    measure: [plan, economics, reliability]              # default: plan, economics
    grid:                                                # every combination
      cluster.gpus: [8192, 16384, 65536, 131072]
      fabric.optics: [dsp, lpo, cpo, xpo]
    zip:                                                 # axes that move together (equal lengths)
      - {fabric.switch: [tomahawk5, tomahawk6], fabric.port_speed: [400G, 800G]}
    samples:                                             # random or Latin-hypercube points
      n: 64
      method: lhs
      seed: 0
      ranges:
        economics.energy_usd_per_kwh: [0.04, 0.15]
        cluster.gpus: {low: 8192, high: 262144, log: true, integer: true}
    options: {communication: analytic}                   # how measured layers run

Axis paths are the same dotted paths as ``--set``.  Grid, zip groups and samples multiply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fabricsim.errors import FabricsimError, format_validation_error, read_yaml_file

LAYERS = ("plan", "economics", "reliability", "collectives", "training", "search")
MAX_POINTS = 200_000
"""Most points one sweep expands (each holds its scenario in memory until it runs)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Strict):
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not (self.low == self.low and self.high == self.high) or self.high < self.low:
            raise ValueError(f"a range needs low <= high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


class Samples(_Strict):
    n: int = Field(gt=0, le=MAX_POINTS)
    method: Literal["random", "lhs"] = "lhs"
    seed: int = Field(0, ge=0)
    ranges: dict[str, Range]

    @field_validator("ranges", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({"low": v[0], "high": v[1]} if isinstance(v, (list, tuple)) and len(v) == 2 else v)
                    for k, v in value.items()}
        return value


class Options(_Strict):
    communication: Literal["analytic", "flow", "auto"] = "analytic"
    load_balancing_tax: bool = Field(False, description="also time the step under ECMP and spraying (bandwidth tax)")
    monte_carlo: bool = Field(False, description="reliability: run the Monte Carlo (slow) besides the expectation")


class Sweep(_Strict):
    name: str = "sweep"
    base: str | dict = Field(default_factory=dict, description="base scenario: a path or an inline mapping")
    measure: list[Literal["plan", "economics", "reliability", "collectives", "training", "search"]] = Field(
        default_factory=lambda: ["plan", "economics"])
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: list[dict[str, list[Any]]] = Field(default_factory=list)
    samples: Samples | None = None
    options: Options = Field(default_factory=Options)

    @model_validator(mode="after")
    def _axes(self) -> "Sweep":
        for path, values in self.grid.items():
            if not values:
                raise ValueError(f"grid axis {path!r} has no values")
        for i, group in enumerate(self.zip):
            lengths = {len(v) for v in group.values()}
            if len(lengths) > 1:
                raise ValueError(f"zip group {i}: axes must have the same length, got {sorted(lengths)}")
            if not group or lengths == {0}:
                raise ValueError(f"zip group {i} is empty")
        paths = list(self.grid) + [p for g in self.zip for p in g] + list(self.samples.ranges if self.samples else [])
        repeated = sorted({p for p in paths if paths.count(p) > 1})
        if repeated:
            raise ValueError(f"axes {repeated} appear more than once (grid, zip and samples must not overlap)")
        if count_points(self) > MAX_POINTS:
            raise ValueError(f"{count_points(self):,} points; the most a sweep runs is {MAX_POINTS:,}")
        return self


def count_points(sweep: Sweep) -> int:
    n = 1
    for values in sweep.grid.values():
        n *= len(values)
    for group in sweep.zip:
        n *= len(next(iter(group.values())))
    return n * (sweep.samples.n if sweep.samples else 1)


def load_sweep(path: str | Path) -> tuple[Sweep, dict]:
    """The validated sweep and its base scenario as a mapping (a path is read relative to the sweep)."""
    path = Path(path)
    raw = read_yaml_file(path)
    if not isinstance(raw, dict):
        raise FabricsimError(f"{path}: a sweep file must be a mapping (name, base, grid, measure...)")
    try:
        sweep = Sweep.model_validate(raw)
    except ValidationError as exc:
        raise FabricsimError(format_validation_error(exc, where=str(path))) from None
    base = sweep.base
    if isinstance(base, str):
        base_path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
        base = read_yaml_file(base_path) or {}
        if not isinstance(base, dict):
            raise FabricsimError(f"{path}: base {sweep.base!r} is not a scenario mapping")
    return sweep, base
