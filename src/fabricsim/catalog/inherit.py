"""Catalog entries that extend another entry of their section (``extends: <name>``).

Versions of one library differ in a handful of constants (and one model shape at two sequence lengths in its
position table); an entry for an older version names the
entry it differs from and lists only what differs, each difference cited to its own release::

    collective_libraries:
      nccl-2.21:
        extends: nccl
        version: "2.21.5"
        source: "NVIDIA/nccl v2.21.5 ... (fields not listed are the parent's, diffed file by file)"
        sources:
          max_ring_channels: "NVIDIA/nccl v2.21.5 src/include/device.h MAXCHANNELS 32 ..."
        max_ring_channels: 16

Resolution happens on the raw YAML fields before validation:

* the parent must be defined earlier (earlier in the same file, or in an earlier file), so a chain
  of extensions cannot loop;
* mappings merge key by key, recursively (``hardware_latency_s: {net: {nvls_tree: {simple: ...}}}``
  changes one number); lists and numbers replace the parent's;
* the child states its own ``source`` (and, where the section has them, the fields of
  :data:`RESTATED`), and cites every field whose value it changes in ``sources``, ``assumptions`` or
  ``fitted_on`` -- the parent's citation of a field the child changed would be wrong;
* the citations and assumptions it inherits are kept, marked ``unchanged from <parent>:`` so a
  reader sees which release they were read from; a figure the parent cites only by its entry-level
  ``source`` keeps that source, so marked, rather than the child's.

Only the sections in :data:`EXTENDABLE` accept ``extends``.
"""

from __future__ import annotations

import copy

from fabricsim.errors import FabricsimError, echo

EXTENDABLE = ("collective_libraries", "models", "software")
"""Sections whose entries may extend another entry of the same section (models: the same shape at another
sequence length, where a learned position table grows with it; software: one stack running another kernel for
some models)."""

RESTATED = {"collective_libraries": ("source", "version")}
"""Fields an extending entry must state itself (never inherited)."""

BOOKKEEPING = ("extends", "name", "source", "sources", "assumptions", "fitted_on", "description", "vendor")
"""Fields that are not figures: changing them needs no citation."""

INHERITED_PREFIX = "unchanged from "


def inherited_text(parent: str, text: str) -> str:
    """A citation inherited from ``parent``: ``unchanged from <parent>: <text>``; along a chain the
    entries are listed nearest first (``unchanged from nccl-2.19 < nccl-2.20 < nccl: ...``)."""
    if text.startswith(INHERITED_PREFIX) and ": " in text:
        chain, rest = text[len(INHERITED_PREFIX):].split(": ", 1)
        return f"{INHERITED_PREFIX}{parent} < {chain}: {rest}"
    return f"{INHERITED_PREFIX}{parent}: {text}"


def deep_merge(parent: dict, child: dict) -> dict:
    """``parent`` with ``child`` laid over it: mappings merge recursively, anything else replaces.
    Neither argument is modified."""
    merged = copy.deepcopy(parent)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve(section: str, name: str, fields: dict, known: dict[str, dict], where: str) -> dict:
    """The complete raw fields of entry ``name`` whose YAML ``fields`` say ``extends: <parent>``;
    ``known``: resolved raw fields of the entries of ``section`` defined before it."""
    parent_name = fields["extends"]
    here = f"{where}: {section}.{name}.extends={echo(parent_name)}"
    if section not in EXTENDABLE:
        raise FabricsimError(f"{here}: only entries of {' or '.join(EXTENDABLE)} may extend another entry")
    if not isinstance(parent_name, str) or parent_name not in known:
        valid = ", ".join(sorted(known)) or "none yet"
        raise FabricsimError(f"{here}: the parent must be an entry of {section} defined before this one "
                             f"(defined so far: {valid})")
    for field in RESTATED.get(section, ("source",)):
        if field not in fields:
            raise FabricsimError(f"{here}: an entry that extends another states its own {field!r}")
    parent = known[parent_name]
    cited = set()
    for mapping in ("sources", "assumptions", "fitted_on"):
        own = fields.get(mapping) or {}
        if not isinstance(own, dict):
            raise FabricsimError(f"{where}: {section}.{name}.{mapping}={echo(own)}: expected a mapping of fields")
        cited |= set(own)
    changed = sorted(k for k in fields if k not in BOOKKEEPING and k not in RESTATED.get(section, ())
                     and fields[k] != parent.get(k))
    uncited = [k for k in changed if k not in cited]
    if uncited:
        raise FabricsimError(
            f"{where}: {section}.{name} changes {', '.join(uncited)} of {parent_name} without citing it: "
            "name the release and file of each changed field in sources (or label it in assumptions)")
    merged = deep_merge({k: v for k, v in parent.items() if k not in ("sources", "assumptions", "fitted_on")},
                        {k: v for k, v in fields.items() if k not in ("sources", "assumptions", "fitted_on")})
    for mapping in ("sources", "assumptions"):
        inherited = {k: inherited_text(parent_name, v) for k, v in (parent.get(mapping) or {}).items()
                     if k not in cited and k not in changed}
        merged[mapping] = {**inherited, **(fields.get(mapping) or {})}
    # a figure the parent cites only by its entry-level source keeps that source, not the child's
    if "source" in parent:
        cited_already = {*BOOKKEEPING, *RESTATED.get(section, ()), *cited, *merged["sources"],
                         *merged["assumptions"]}  # every changed field is in cited (checked above)
        for k in parent:
            if k not in cited_already:
                merged["sources"][k] = inherited_text(parent_name, parent["source"])
    fitted = {k: v for k, v in (parent.get("fitted_on") or {}).items() if k not in cited and k not in changed}
    merged["fitted_on"] = {**fitted, **(fields.get("fitted_on") or {})}
    return merged
