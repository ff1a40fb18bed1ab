"""Which parts can carry a scenario's transport, and which load balancing it allows.

A transport is spoken end to end by the NICs; the switches must either speak it (InfiniBand, RoCE's
lossless classes, Spectrum-X, UEC) or merely carry it.  AWS EFA's SRD is the second kind: it is
encapsulated in ordinary IP over AWS's Ethernet network and its multipath spraying is done by the
sending NIC, which varies the header fields ECMP switches hash on (Shalev et al., "A Cloud-Optimized
Transport Protocol for Elastic and Scalable HPC", IEEE Micro 2020) -- so any Ethernet switch carries it,
load spreads as spraying does, and no other policy describes it.  EFA adapters are bound to one instance
type, so the adapter must also belong to the scenario's accelerator.
"""

from __future__ import annotations

from fabricsim.catalog import Catalog
from fabricsim.catalog.schema import Gpu, Nic, Switch
from fabricsim.errors import FabricsimError

DEFAULT_LOAD_BALANCING = {"infiniband": "adaptive", "roce": "ecmp", "spectrum-x": "adaptive", "uec": "spray",
                          "efa": "spray"}
"""Usual policy per transport: IB per-packet adaptive routing (Quantum AR, out-of-order placement at
ConnectX); RoCEv2 ECMP hashing; Spectrum-X per-packet adaptive routing with reordering at the
SuperNIC; UEC packet spraying (seed 001_d75a99b56f43ca3a.txt, 'Congestion Control'); EFA's SRD sprays
from the sender (module docstring)."""

CARRIED_BY = {"efa": ("roce", "spectrum-x", "uec")}
"""Transports the switches carry without speaking: transport -> switch protocols that carry it (Ethernet)."""

ONLY_POLICIES = {"efa": ("spray",)}
"""Transports whose load balancing is fixed by the transport itself."""


def check_parts(catalog: Catalog, fabric, gpu: Gpu, nic: Nic, switches: list[Switch]) -> None:
    """Raise a clear error when the NIC, switches or load balancing cannot run ``fabric.transport``."""
    transport = fabric.transport
    if transport not in nic.protocols:
        speakers = [n for n, entry in catalog.sections["nics"].items()
                    if transport in entry.protocols and (not entry.gpus or gpu.name in entry.gpus)]
        hint = (f"; NICs that speak it with {gpu.name}: {', '.join(speakers)} (set cluster.nic)" if speakers else
                f"; no NIC in the catalog speaks {transport} with {gpu.name}")
        raise FabricsimError(f"fabric.transport={transport}: {nic.name} speaks {', '.join(nic.protocols)}{hint}; "
                             f"choose another transport or NIC")
    if nic.gpus and gpu.name not in nic.gpus:
        raise FabricsimError(f"cluster.nic={nic.name} comes only with {', '.join(nic.gpus)} (one instance type); "
                             f"cluster.gpu={gpu.name} has no such adapter: choose one of those GPUs or another NIC")
    carriers = CARRIED_BY.get(transport, (transport,))
    for switch in {s.name: s for s in switches}.values():
        if not set(carriers) & set(switch.protocols):
            what = "an Ethernet switch (one that speaks " + ", ".join(carriers) + ")" if transport in CARRIED_BY \
                else f"a switch that speaks {transport}"
            raise FabricsimError(f"fabric.transport={transport} needs {what}; {switch.name} speaks "
                                 f"{', '.join(switch.protocols)}; choose another switch or transport")
    allowed = ONLY_POLICIES.get(transport)
    if allowed and fabric.load_balancing is not None and fabric.load_balancing not in allowed:
        raise FabricsimError(f"fabric.load_balancing={fabric.load_balancing} with fabric.transport={transport}: the "
                             f"transport itself spreads every message's packets over many paths; valid: "
                             f"{', '.join(allowed)} (or leave it unset)")
