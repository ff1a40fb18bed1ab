"""Routing cross-site flows over a metro DCI (:class:`fabricsim.topology.sites.DciFabric`).

A flow from a GPU of site ``a`` to a GPU of a neighbouring site ``b`` crosses: the source GPU's NIC
(out), one wavelength of the link between the two sites (in that direction), the destination GPU's
NIC (in), and a private *window* arc of its own.  The site fabrics between the NICs and the border are
taken as uncontended (a DCI carries far less than a site's bisection).

* ``ecmp`` (and ``flowlet``): each flow hashes onto one wavelength (a LAG / ECMP group over the
  wavelengths): few elephant flows collide exactly as on a real link bundle.
* ``spray`` / ``adaptive`` / ``ideal``: packets spread evenly, modelled exactly by one trunk per
  direction with the summed capacity of the wavelengths.
* window: a connection keeps at most ``window_bytes`` in flight (the collective library's buffer), so it
  runs at most ``window / round trip``; the arc's capacity is that payload rate.

Arcs: ``2 gpu`` NIC out, ``2 gpu + 1`` NIC in; then wavelengths ``(pair x W + w) x 2 + direction``; then
trunks ``pair x 2 + direction``; then one window arc per flow.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fabricsim.errors import FabricsimError
from fabricsim.netsim.routing import PER_FLOW, Routed, flow_hash
from fabricsim.netsim.transport import get_transport

LABELS = ["NIC", "DCI wavelength", "DCI trunk (spray)", "(unused)", "connection window (in flight / RTT)"]


def _pair_and_direction(site_a: np.ndarray, site_b: np.ndarray, sites: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the site pair a flow crosses and its direction (0: site i -> i+1)."""
    if sites == 2:
        return np.zeros_like(site_a), (site_a == 1).astype(np.int64)
    forward = site_b == (site_a + 1) % sites
    backward = site_b == (site_a - 1) % sites
    if not np.all(forward | backward):
        raise FabricsimError("cross-site flows run between neighbouring sites of the ring only")
    return np.where(forward, site_a, site_b), np.where(forward, 0, 1)


def route_dci(fabric, src: np.ndarray, dst: np.ndarray, policy: str, seed: int = 0, flow_id=None):
    """Routed flows (see :class:`fabricsim.netsim.routing.Routed`) over the DCI."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    n = src.size
    site_a, site_b = fabric.gpu_site[src], fabric.gpu_site[dst]
    if np.any(site_a == site_b):
        raise FabricsimError("the DCI router carries cross-site flows only")
    sites = fabric.design.sites
    pairs = 1 if sites == 2 else sites
    pair, direction = _pair_and_direction(site_a, site_b, sites)
    gpus, wl = fabric.gpus, fabric.wavelengths
    base_wl = 2 * gpus
    base_trunk = base_wl + 2 * pairs * wl
    base_window = base_trunk + 2 * pairs
    total = base_window + n
    efficiency = get_transport(fabric.design.scenario.fabric.transport).payload_efficiency
    capacity = np.empty(total)
    block = np.empty(total, dtype=np.int16)
    capacity[:base_wl], block[:base_wl] = fabric.nic_bits_per_s, 0
    capacity[base_wl:base_trunk], block[base_wl:base_trunk] = fabric.wavelength_bits_per_s, 1
    capacity[base_trunk:base_window], block[base_trunk:base_window] = wl * fabric.wavelength_bits_per_s, 2
    capacity[base_window:], block[base_window:] = fabric.window_bits_per_s / efficiency, 4
    if policy in PER_FLOW:
        fid = np.zeros(n, dtype=np.int64) if flow_id is None else np.asarray(flow_id, dtype=np.int64)
        w = (flow_hash(src, dst, fid, 29, seed) % np.uint64(wl)).astype(np.int64)
        middle = base_wl + (pair * wl + w) * 2 + direction
    else:
        middle = base_trunk + pair * 2 + direction
    cols = np.stack([2 * src, middle, 2 * dst + 1, base_window + np.arange(n)], axis=1)
    rows = np.repeat(np.arange(n), 4)
    incidence = sp.csr_matrix((np.ones(4 * n), (rows, cols.ravel())), shape=(n, total))
    latency = np.full(n, fabric.round_trip_s / 2)
    return Routed(incidence, capacity, latency, LABELS, block, policy)


def describe_dci_arc(fabric, routed, arc: int) -> str:
    gpus, wl = fabric.gpus, fabric.wavelengths
    if arc < 2 * gpus:
        return f"GPU {arc // 2} NIC {'in' if arc % 2 else 'out'}"
    label = routed.arc_labels[routed.arc_block[arc]]
    if routed.arc_block[arc] == 1:
        pair, rest = divmod(int(arc) - 2 * gpus, 2 * wl)
        return f"site pair {pair} wavelength {rest // 2} ({'reverse' if rest % 2 else 'forward'})"
    return f"{label} #{int(arc)}"
