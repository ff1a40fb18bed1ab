"""The catalog's sections and the schema of each: the registry the loader reads files with.

Each schema module imports :class:`fabricsim.catalog.schema.Entry`; this module imports them all,
so no schema module needs to know of the others.
"""

from __future__ import annotations

from fabricsim.catalog.failure_schema import FailureRate
from fabricsim.catalog.library_schema import CollectiveLibrary
from fabricsim.catalog.model_schema import LlmModel
from fabricsim.catalog.net_plugin_schema import NetPlugin
from fabricsim.catalog.optical_schema import CoherentOptic, LinePart, OpticalCircuitSwitch
from fabricsim.catalog.schema import Entry, Gpu, Medium, Nic, ScaleUpSystem, Switch
from fabricsim.catalog.software_schema import SoftwareProfile

KINDS: dict[str, type[Entry]] = {
    "gpus": Gpu,
    "scale_up": ScaleUpSystem,
    "switches": Switch,
    "nics": Nic,
    "media": Medium,
    "failures": FailureRate,
    "models": LlmModel,
    "software": SoftwareProfile,
    "collective_libraries": CollectiveLibrary,
    "net_plugins": NetPlugin,
    "optical_switches": OpticalCircuitSwitch,
    "dci_optics": CoherentOptic,
    "line_systems": LinePart,
}
"""Catalog sections: the YAML file ``<section>.yaml`` holds entries of this schema."""
