"""The base of every scenario section's schema: strict about what a number is.

Unknown fields are typos; NaN and infinities are refused everywhere (pydantic's ``allow_inf_nan``);
``true``/``false`` is refused where a number or a name belongs (pydantic would read it as 1 or 0).
Bounds on each field live beside the field (``Field(ge=..., le=...)``) with their reason.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _takes_bool(annotation) -> bool:
    return annotation is bool or bool in typing.get_args(annotation)


class Strict(BaseModel):
    """Unknown fields, NaN and infinities are errors; so is true/false where a number belongs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and not _takes_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError("expected a number or a name, not true/false")
        return value
