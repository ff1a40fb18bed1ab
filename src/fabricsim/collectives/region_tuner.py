"""A tuner plugin's decision table: which (algorithm, protocol) it forces for a call, by region.

aws-ofi-nccl's region tuner (src/tuner/nccl_ofi_regions.cpp, v1.16.3) describes, per platform, per
collective and per GPUs-per-node shape, polygons in the plane (message bytes, ranks).  For a call of
``size`` bytes on ``ranks`` ranks it walks the regions in order and takes the first one whose polygon
holds the point -- its edges included -- and whose (algorithm, protocol) NCCL can run on this
communicator (NCCL marks the others "ignore" in its cost table, and the tuner moves on to the next
region); that pair gets cost 0, so NCCL runs it.  A point in no usable region, and every call on
``tuner_min_nodes - 1`` nodes or fewer, is left to NCCL's own tuner.  The point test follows the
plugin's: a point within 1e-10 of an edge is on it; otherwise a ray from the point to twice the
domain's far corner counts edge crossings (odd: inside).  The code is fabricsim's own.
"""

from __future__ import annotations

import math
from typing import Callable

EDGE_EPSILON = 1e-10
"""aws-ofi-nccl is_inside_region: eps = 1e-10 (in the plane's own units: bytes and ranks)."""

Point = tuple[float, float]


def extend(a: Point, b: Point, corner: Point) -> Point:
    """Where the line through ``a`` and ``b`` leaves the domain towards ``corner`` (the plugin's
    extend_region): the corner's rank height on a vertical line, its byte width on a horizontal one,
    else the first of the two the line meets."""
    if a[0] == b[0]:
        return (a[0], corner[1])
    if a[1] == b[1]:
        return (corner[0], a[1])
    slope = (a[1] - b[1]) / (a[0] - b[0])
    intercept = b[1] - slope * b[0]
    at_corner_x = slope * corner[0] + intercept
    if at_corner_x < corner[1]:
        return (corner[0], at_corner_x)
    return ((corner[1] - intercept) / slope, corner[1])


def polygon(vertices, corner: Point) -> list[Point]:
    """Catalog vertices ([x, y] or an ``extend`` of two points) as points."""
    out = []
    for v in vertices:
        if isinstance(v, (list, tuple)):
            out.append((float(v[0]), float(v[1])))
        else:
            a, b = v.extend
            out.append(extend((a[0], a[1]), (b[0], b[1]), corner))
    return out


def _cross(ax: float, ay: float, bx: float, by: float) -> float:
    return ax * by - ay * bx


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return math.hypot(p[0] - a[0], p[1] - a[1]) < EDGE_EPSILON
    t = ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2
    if t < 0 or t > 1:
        return False
    return math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy)) < EDGE_EPSILON


def _crosses(p: Point, far: Point, a: Point, b: Point) -> bool:
    """Whether the segment p-far properly crosses the edge a-b."""
    rx, ry = far[0] - p[0], far[1] - p[1]
    sx, sy = b[0] - a[0], b[1] - a[1]
    denominator = _cross(rx, ry, sx, sy)
    if denominator == 0:
        return False
    qx, qy = a[0] - p[0], a[1] - p[1]
    t = _cross(qx, qy, sx, sy) / denominator  # along the ray
    u = _cross(qx, qy, rx, ry) / denominator  # along the edge
    return 0 <= t <= 1 and EDGE_EPSILON < u < 1 - EDGE_EPSILON


def holds(points: list[Point], p: Point, corner: Point) -> bool:
    """Whether the polygon holds ``p`` (inside or on an edge)."""
    n = len(points)
    if any(_on_segment(p, points[i], points[(i + 1) % n]) for i in range(n)):
        return True
    xs, ys = [q[0] for q in points], [q[1] for q in points]
    if not (min(xs) <= p[0] <= max(xs) and min(ys) <= p[1] <= max(ys)):
        return False
    far = (2 * corner[0], 2 * corner[1])
    return sum(_crosses(p, far, points[i], points[(i + 1) % n]) for i in range(n)) % 2 == 1


def forced_choice(plugin, op: str, ranks: int, nodes: int, size_bytes: float,
                  usable: Callable[[str, str], bool]) -> tuple[str, str] | None:
    """The (algorithm, protocol) the plugin's tuner forces for this call, or None (NCCL's own choice).

    ``usable(algorithm, protocol)``: whether NCCL can run that pair here (not 'ignore' in its table)."""
    if plugin is None or nodes < plugin.tuner_min_nodes or ranks % nodes:
        return None
    regions = plugin.tuner_regions.get(op, {}).get(ranks // nodes)
    if not regions:
        return None
    corner = (plugin.tuner_max_bytes, plugin.tuner_max_ranks)
    point = (float(size_bytes), float(ranks))
    for region in regions:
        if usable(region.algorithm, region.protocol) and holds(polygon(region.vertices, corner), point, corner):
            return region.algorithm, region.protocol
    return None
