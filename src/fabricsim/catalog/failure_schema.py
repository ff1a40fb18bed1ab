"""Schema of failure-rate catalog entries (section ``failures`` in ``failures.yaml``).

One entry per *component class* (gpu, hbm, scale_up, host, nic, switch, optics at NIC ends, optics at
switch ends, co-packaged engines, cables, and the job itself).  The rate is not typed in: it is
*derived* from a published census or field study, so the number in the catalog is the census itself
and the rate can never drift from its source::

    rate per unit-hour = census_count / (census_units * census_hours)

``unit`` says what one unit is (a GPU, a host, a switch, a pluggable module, a cable assembly, a job),
so a rate measured on one fleet can be applied to another cluster's bill of materials.  Optical modules
and cables of other types than the census's ``reference_medium`` fail in proportion to their catalog
``fit_per_end`` (a relative weight: an LPO module without DSP fails less often than a DSP module).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fabricsim.catalog.schema import Entry

FailureUnit = Literal[
    "gpu",
    "host",
    "nic",
    "switch",
    "scale_up_switch_chip",
    "nic_optical_module",
    "optical_module",
    "cpo_engine_port",
    "cable_assembly",
    "job",
]


class FailureRate(Entry):
    """Failure rate of one component class, derived from a published census or field study."""

    unit: FailureUnit = Field(description="what one unit of this class is; rates are per unit-hour")
    census_count: float = Field(ge=0, description="failures (or interruptions) attributed to this class in the census")
    census_categories: list[str] = Field(
        default_factory=list, description="census rows (and shares of rows) mapped to this class"
    )
    census_units: float = Field(gt=0, description="units of this class present in the census fleet")
    census_hours: float = Field(gt=0, description="length of the census period, hours")
    reference_medium: str | None = Field(
        None, description="media catalog name the census units were (optical modules, cables); other media "
        "scale by their fit_per_end relative to it"
    )
    stops_job: bool = Field(
        description="True if a failure stops a synchronous job (restart from checkpoint) on a fabric without "
        "redundancy; the planner turns network classes off where planes or dual-homing carry the traffic"
    )
    degraded_step_factor: float = Field(
        ge=1.0,
        default=1.0,
        description="step-time multiplier while the failed unit is out, when the job does not stop",
    )
    uses_spare: bool = Field(
        description="the job must swap the failed unit's host for a spare (or wait repair_hours) before restarting"
    )
    repair_hours: float = Field(
        ge=0, description="time to repair/replace the unit in place (also how long a degradation lasts)"
    )

    @property
    def rate_per_unit_hour(self) -> float:
        """Failures per unit per hour, derived from the census."""
        return self.census_count / (self.census_units * self.census_hours)

    @property
    def fit(self) -> float:
        """The same rate in FIT (failures per 1e9 unit-hours)."""
        return self.rate_per_unit_hour * 1e9
