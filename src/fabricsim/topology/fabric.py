"""The materialised fabric: nodes and links as numpy arrays (no object per link).

Numbering is arithmetic so that routing is index arithmetic, not graph search:

* nodes: endpoints (NIC ports) of every plane first, then leaves, spines, cores;
  within a tier, plane-major: ``node_base[tier] + plane * count[tier] + index``.
* links: blocks by tier, plane-major, numbered from the lower switch's uplink port:
  - tier 1 (endpoint-leaf): ``link_base[1] + plane * E + endpoint``
  - tier 2 (leaf-spine):    ``link_base[2] + (plane * leaves + leaf) * leaf_up + port``;
    port ``u`` reaches spine ``pod * spines_per_pod + u // bundle_leaf``
  - tier 3 (spine-core):    ``link_base[3] + (plane * spines + spine) * spine_up + port``;
    port ``v`` reaches core ``(spine % spines_per_pod) * cores_per_group + v // bundle_spine``

Links are full duplex; ``link_capacity_bits_per_s`` is per direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fabricsim.topology.design import FabricDesign

TIER_ENDPOINT, TIER_LEAF, TIER_SPINE, TIER_CORE = 0, 1, 2, 3


@dataclass
class Fabric:
    design: FabricDesign
    node_tier: np.ndarray  # int8, 0 endpoint, 1 leaf, 2 spine, 3 core
    node_plane: np.ndarray  # int16
    node_base: tuple[int, int, int, int]  # first node id of each tier
    endpoint_gpu: np.ndarray  # int32, GPU of each endpoint (all planes; a shared NIC's first GPU)
    endpoint_leaf: np.ndarray  # int32, leaf index (within plane) of each endpoint of plane 0
    gpu_server: np.ndarray  # int32
    gpu_scale_up_domain: np.ndarray  # int32
    gpu_rack: np.ndarray  # int32
    link_lower: np.ndarray  # int64 node id
    link_upper: np.ndarray  # int64 node id
    link_tier: np.ndarray  # int8 1..3
    link_plane: np.ndarray  # int16
    link_capacity_bits_per_s: np.ndarray  # float64
    link_latency_s: np.ndarray  # float64
    link_medium: np.ndarray  # int16 index into media_names
    media_names: list[str] = field(default_factory=list)
    link_base: tuple[int, int, int, int] = (0, 0, 0, 0)
    link_up: np.ndarray | None = None  # bool, True where the link is in service

    @property
    def n_nodes(self) -> int:
        return int(self.node_tier.size)

    @property
    def n_links(self) -> int:
        return int(self.link_tier.size)

    def links_per_tier(self) -> np.ndarray:
        """Number of links of tier 1, 2, 3 (all planes)."""
        return np.bincount(self.link_tier, minlength=4)[1:]

    def switches_per_tier(self) -> np.ndarray:
        return np.bincount(self.node_tier, minlength=4)[1:]

    def ports_used_per_tier(self) -> np.ndarray:
        """Switch ports cabled, by tier of the switch (a link uses one port at each switch end)."""
        upper = np.bincount(self.node_tier[self.link_upper], minlength=4)
        lower = np.bincount(self.node_tier[self.link_lower], minlength=4)
        return (upper + lower)[1:]

    def ports_used_per_switch(self) -> np.ndarray:
        """Cabled ports of every node (endpoints included)."""
        return np.bincount(self.link_upper, minlength=self.n_nodes) + np.bincount(
            self.link_lower, minlength=self.n_nodes
        )

    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
