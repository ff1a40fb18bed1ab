"""The catalog's and the validation cases' own pointers resolve: a source a reader cannot follow is no source.

Catalog entries and case notes name fabricsim's modules and functions (``fabricsim.workload.fp8_casts``) as the place
a figure is computed, and tests that check it.  External repositories' paths (``docs/performance-summary.md`` of
Megatron-Bridge) are not checked here; pointers into this repository are.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fabricsim"
DATA_FILES = sorted(PACKAGE.rglob("*.yaml"))
DOTTED = re.compile(r"\bfabricsim\.([a-z_0-9]+(?:\.[a-zA-Z_0-9]+)*)")


def resolves(dotted: str) -> bool:
    """True if ``fabricsim.<dotted>`` names a module, or an attribute chain of the longest importable module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module("fabricsim." + ".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def test_the_reference_check_can_fail():
    assert resolves("workload.fp8_casts")
    assert resolves("workload.attention_head_dim.head_dim_factor")
    assert not resolves("workload.no_such_module")
    assert not resolves("workload.attention_head_dim.no_such_function")


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.name)
def test_every_fabricsim_name_in_the_data_exists(path):
    text = path.read_text()
    missing = sorted({name for name in DOTTED.findall(text) if not resolves(name)})
    assert not missing, f"{path.name} names fabricsim.{missing[0]}, which does not exist ({len(missing)} such names)"


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.name)
def test_no_data_file_cites_a_working_note_outside_the_repository(path):
    """Session notes (``notes/...``) are not shipped; a figure must cite its public source or a case, not them."""
    assert "notes/helper" not in path.read_text(), f"{path.name} cites a notes/ file that is not in the repository"
