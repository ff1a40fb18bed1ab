"""Schema of collective-library network plugins (section ``net_plugins``).

A network plugin is the library's driver for a NIC it does not drive itself: NCCL talks to AWS EFA
through aws-ofi-nccl (libfabric).  What such a plugin changes in the library is data, one entry per
platform the plugin treats apart:

* ``reported_latency_s`` - the latency the plugin reports to NCCL for its NICs (ncclNetProperties
  .latency); NCCL's tuner adds it to every network step of its cost model, twice for Simple
  (NVIDIA/nccl src/graph/tuning.cc: ``interLat += graphs[a]->latencyInter``, then once more for Simple,
  "flush extra latency"; InfiniBand and socket NICs report 0).
* ``protocols`` - the NCCL protocols the plugin leaves enabled (it forces ``NCCL_PROTO=simple`` where the
  NIC cannot guarantee 128-byte ordered writes, which LL and LL128 rely on).
* ``nccl_env`` - NCCL settings the plugin exports as defaults on that platform (fabricsim applies the
  Simple buffer and the NVLS chunk: :mod:`fabricsim.collectives.net_plugin`; the others are recorded).
* ``tuner_regions`` - a tuner plugin's decision table: per collective and GPUs per node, polygons in the
  (message bytes, ranks) plane, each naming the (algorithm, protocol) the tuner forces inside it; the
  first region that holds the point (its edges included) wins, and a point in none is left to NCCL.

Vertices are ``[bytes, ranks]``, or ``{extend: [a, b]}``: the point where the line through ``a`` and
``b`` leaves the tuner's domain towards (``tuner_max_bytes``, ``tuner_max_ranks``) (aws-ofi-nccl's
``extend_region``).
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fabricsim.catalog.library_schema import LIBRARY_ALGORITHMS, PROTOCOLS
from fabricsim.catalog.schema import Entry

TUNED_OPS = ("all_reduce", "all_gather", "reduce_scatter")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Extend(_Strict):
    extend: list[list[float]] = Field(min_length=2, max_length=2, description="two [bytes, ranks] points")

    @field_validator("extend")
    @classmethod
    def _points(cls, value: list[list[float]]) -> list[list[float]]:
        for point in value:
            _check_point(point)
        return value


Vertex = Union[list[float], Extend]


def _check_point(point: list[float]) -> None:
    if len(point) != 2 or point[0] < 0 or point[1] < 0:
        raise ValueError(f"vertex {point}: a vertex is [message bytes >= 0, ranks >= 0]")


class TunerRegion(_Strict):
    algorithm: Literal[LIBRARY_ALGORITHMS]  # type: ignore[valid-type]
    protocol: Literal[PROTOCOLS]  # type: ignore[valid-type]
    vertices: list[Vertex] = Field(min_length=2, max_length=20, description="polygon, in order")

    @field_validator("vertices")
    @classmethod
    def _vertices(cls, value: list) -> list:
        for vertex in value:
            if isinstance(vertex, list):
                _check_point(vertex)
        return value


class NetPlugin(Entry):
    """A collective library's network plugin on one platform (aws-ofi-nccl on p5, p5en...)."""

    library: str = Field("nccl", description="collective library the plugin plugs into (catalog name)")
    version: str = Field(description="plugin version the figures were read from")
    platforms: list[str] = Field(min_length=1, description="instance types this entry describes")
    reported_latency_s: float = Field(ge=0, le=1e-2, description="NIC latency the plugin reports to the library")
    protocols: list[Literal[PROTOCOLS]] = Field(  # type: ignore[valid-type]
        min_length=1, description="protocols the plugin leaves enabled")
    nccl_env: dict[str, float] = Field(default_factory=dict, description="NCCL settings the plugin sets by default")
    tuner_min_nodes: int = Field(3, ge=1, description="fewest nodes at which the tuner's regions apply")
    tuner_max_bytes: float = Field(100 * 2**30, gt=0, description="largest message the tuner's regions cover")
    tuner_max_ranks: float = Field(2**20, gt=0, description="most ranks the tuner's regions cover")
    tuner_regions: dict[Literal[TUNED_OPS], dict[int, list[TunerRegion]]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="decision table: collective -> GPUs per node -> regions, first match wins")

    @field_validator("nccl_env")
    @classmethod
    def _env(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            if not key.startswith("NCCL_") or number < 0:
                raise ValueError(f"nccl_env.{key}={number}: keys are NCCL_* settings, values numbers >= 0")
        return value

