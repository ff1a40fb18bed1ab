"""``fabricsim validate``: published figures as data, evaluated through the public API."""

from fabricsim.validation.cases import Case, load_cases
from fabricsim.validation.runner import CaseResult, run_validation, summarize

__all__ = ["Case", "CaseResult", "load_cases", "run_validation", "summarize"]
