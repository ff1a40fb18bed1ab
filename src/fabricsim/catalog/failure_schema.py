"""Schema of failure-rate catalog entries (section ``failures`` in ``failures.yaml``).

One entry per *component class* (gpu, hbm, scale_up, host, nic, switch, transceiver, cable,
software).  The rate is not typed in: it is *derived* from a failure census, so the number in
the catalog is the census itself and the rate can never drift from its source::

    rate per unit-hour = census_count / (census_units * census_hours)

``unit`` says what one unit is (a GPU, a host, a switch, one failure-prone connection point of
an optical link...), so a rate calibrated on one cluster can be applied to another cluster's
bill of materials.
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
    "optical_connection_point",
    "cable_connection_point",
]


class FailureRate(Entry):
    """Failure rate of one component class, calibrated on a published census."""

    unit: FailureUnit = Field(description="what one unit of this class is; rates are per unit-hour")
    census_count: float = Field(ge=0, description="interruptions attributed to this class in the census")
    census_categories: list[str] = Field(
        default_factory=list, description="census rows (and shares of rows) mapped to this class"
    )
    census_units: float = Field(gt=0, description="units of this class present in the census cluster")
    census_hours: float = Field(gt=0, description="length of the census period, hours")
    stops_job: bool = Field(
        description="True if a failure stops a synchronous job (restart from checkpoint); "
        "False if the job keeps running, slowed by degraded_step_factor"
    )
    degraded_step_factor: float = Field(
        ge=1.0,
        default=1.0,
        description="step-time multiplier while the failed unit is out, when stops_job is False",
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
