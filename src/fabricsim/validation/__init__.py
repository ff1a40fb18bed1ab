"""``fabricsim validate``: published figures as data, evaluated through the public API."""

from fabricsim.validation.cases import Case, load_cases
from fabricsim.validation.runner import CaseResult, as_json, exit_code, run_validation, summarize

__all__ = ["Case", "CaseResult", "as_json", "exit_code", "load_cases", "run_validation", "summarize"]
