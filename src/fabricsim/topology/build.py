"""Materialise a fabric design into arrays (vectorised; 131k GPUs, 3 tiers in well under a second)."""

from __future__ import annotations

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.scenario import Scenario
from fabricsim.topology.design import FabricDesign, design_fabric
from fabricsim.topology.fabric import Fabric


def endpoint_leaves(design: FabricDesign) -> np.ndarray:
    """Leaf index (within a plane) of every endpoint of one plane, as the placement rule says."""
    shape = design.shape
    endpoints = np.arange(shape.endpoints, dtype=np.int64)
    if shape.tiers == 1:
        return np.zeros(shape.endpoints, dtype=np.int64)
    if shape.rail_optimized and shape.rails > 1:
        server, rail = np.divmod(endpoints, shape.rails)
        return (server // shape.leaf_down) * shape.rails + rail
    return endpoints // shape.leaf_down


def build_fabric(design: FabricDesign) -> Fabric:
    if design.rail_only:
        raise FabricsimError(
            "fabric.rail_only: a rail-only fabric is planned by counts only (fabricsim plan); flow-level routing "
            "(collectives, train) needs a path between any two GPUs' NICs, which rail-only fabrics do not have - "
            "cross-rail traffic would have to be forwarded over NVLink first. Use rail_optimized instead to simulate"
        )
    shape = design.shape
    planes, endpoints = shape.planes, shape.endpoints
    counts = (endpoints, shape.leaves, shape.spines, shape.cores)
    node_base = tuple(int(x) for x in np.concatenate([[0], np.cumsum([c * planes for c in counts])[:-1]]))
    node_tier = np.repeat(np.arange(4, dtype=np.int8), [c * planes for c in counts])
    node_plane = np.concatenate(
        [np.repeat(np.arange(planes, dtype=np.int16), c) for c in counts]
    ).astype(np.int16)

    plane_of = lambda n: np.arange(planes, dtype=np.int64)[:, None] * n  # noqa: E731
    lowers, uppers, tiers = [], [], []

    # tier 1: endpoint -> leaf
    leaf_of = endpoint_leaves(design)
    lowers.append((node_base[0] + plane_of(endpoints) + np.arange(endpoints)).ravel())
    uppers.append((node_base[1] + plane_of(shape.leaves) + leaf_of).ravel())
    tiers.append(np.full(planes * endpoints, 1, dtype=np.int8))

    if shape.tiers >= 2:
        leaf = np.repeat(np.arange(shape.leaves, dtype=np.int64), shape.leaf_up)
        port = np.tile(np.arange(shape.leaf_up, dtype=np.int64), shape.leaves)
        pod = leaf // shape.spine_down if shape.tiers == 3 else np.zeros_like(leaf)
        spine = pod * shape.spines_per_pod + port // shape.bundle_leaf
        lowers.append((node_base[1] + plane_of(shape.leaves)[:, :1] + leaf).ravel())
        uppers.append((node_base[2] + plane_of(shape.spines)[:, :1] + spine).ravel())
        tiers.append(np.full(planes * leaf.size, 2, dtype=np.int8))

    if shape.tiers >= 3:
        spine = np.repeat(np.arange(shape.spines, dtype=np.int64), shape.spine_up)
        port = np.tile(np.arange(shape.spine_up, dtype=np.int64), shape.spines)
        core = (spine % shape.spines_per_pod) * shape.cores_per_group + port // shape.bundle_spine
        lowers.append((node_base[2] + plane_of(shape.spines)[:, :1] + spine).ravel())
        uppers.append((node_base[3] + plane_of(shape.cores)[:, :1] + core).ravel())
        tiers.append(np.full(planes * spine.size, 3, dtype=np.int8))

    link_lower = np.concatenate(lowers)
    link_upper = np.concatenate(uppers)
    link_tier = np.concatenate(tiers)
    per_tier = [a.size for a in tiers]
    link_base = tuple(int(x) for x in np.concatenate([[0, 0], np.cumsum(per_tier)])[:4])
    link_plane = node_plane[link_lower]

    media_names: list[str] = []
    tier_medium = np.zeros(4, dtype=np.int16)
    tier_latency = np.zeros(4)
    for t, media in enumerate(design.media, start=1):
        label = "+".join(dict.fromkeys(media.parts))
        if label not in media_names:
            media_names.append(label)
        tier_medium[t] = media_names.index(label)
        tier_latency[t] = design.link_latency_s(t - 1)

    gpus = np.arange(design.gpus, dtype=np.int64)
    return Fabric(
        design=design,
        node_tier=node_tier,
        node_plane=node_plane,
        node_base=node_base,
        endpoint_gpu=np.tile(gpus[::design.gpus_per_nic].repeat(design.ports_per_nic_per_plane), planes).astype(np.int32),
        endpoint_leaf=leaf_of.astype(np.int32),
        gpu_server=(gpus // design.gpus_per_server).astype(np.int32),
        gpu_scale_up_domain=(gpus // design.scale_up.gpus).astype(np.int32),
        gpu_rack=(gpus // design.gpus_per_rack).astype(np.int32),
        link_lower=link_lower,
        link_upper=link_upper,
        link_tier=link_tier,
        link_plane=link_plane,
        link_capacity_bits_per_s=np.array([0.0] + [design.link_speed(t) for t in range(shape.tiers)])[link_tier],
        link_latency_s=tier_latency[link_tier],
        link_medium=tier_medium[link_tier],
        media_names=media_names,
        link_base=link_base,
        link_up=np.ones(link_tier.size, dtype=bool),
    )


def fabric_from_scenario(scenario: Scenario) -> Fabric:
    return build_fabric(design_fabric(scenario))
