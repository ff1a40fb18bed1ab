"""Transport presets: routing policy and wire efficiency of InfiniBand, RoCEv2, Spectrum-X, UEC and AWS EFA.

What is *simulated* is routing (ECMP collisions, spraying, adaptive choice) and max-min
sharing.  What is a *parameter* is the payload efficiency of the wire format, computed here
from header sizes at the MTU (not fitted), and nothing else.

Congestion control is represented by its steady state, not its dynamics: every transport here
shares a bottleneck max-min fairly at full utilisation.  For RoCE's DCQCN that is what its fluid
analysis supports: tuned, the protocol will "converge to and [be] stable at the fair share point"
(Zhu, Ghobadi, Misra, Padhye, "ECN or Delay", CoNEXT 2016, abstract); at that point the ECN-marking
queue is non-empty, so the link stays busy (our reading of the fixed point), and PFC keeps the
fabric lossless.  Meta ran its RoCE training fabric on PFC alone for over a year with "stable
performance and lack of persistent congestion for training collectives" (Gangidi et al., SIGCOMM
2024, as quoted by sysdesign-wiki's DCQCN page).  InfiniBand's credit-based flow control needs no
such argument.  No published figure was found that puts a steady-state throughput loss on a
fan-in link under DCQCN (or Spectrum-X CC, or UET), and rings (no fan-in) on well-configured RoCE
reach InfiniBand's numbers (OCI 2 x 8 H100 RoCE: 465 GB/s busbw, above the ring bound so NVLS
tree, whose NCCL model gives 462; NVIDIA/nccl#2035: 2 x 8 B300 RoCE ring 760+ GB/s, ~97% of the
wire), so none is applied.  What a fluid model cannot show -- PFC head-of-line blocking of victim
flows, DCQCN transients, incast bursts shorter than a control loop -- is not modelled; seed
000_3aeaf96e063beb99.txt's "RoCE congestion / ordering cost up to ~30%" is a caveat, not applied.

AWS EFA runs SRD, the Scalable Reliable Datagram (Shalev et al., "A Cloud-Optimized Transport Protocol for
Elastic and Scalable HPC", IEEE Micro 40(6), 2020): the sender sprays the packets of every message over
many paths of AWS's ordinary ECMP Ethernet network (it varies the path-selecting header fields packet by
packet), delivers out of order and leaves ordering to the layer above
(libfabric / aws-ofi-nccl), retransmits lost packets itself within sub-millisecond time and paces each
connection by sender-based congestion control.  So the switches need only carry IP over Ethernet, and
load spreads as packet spraying does (the ``spray`` policy), not as per-flow ECMP.  Its congestion control
is represented, like the others', by its steady state: max-min fair at full utilisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.errors import FabricsimError


@dataclass(frozen=True)
class Transport:
    name: str
    default_load_balancing: str
    mtu_bytes: int
    header_bytes: int  # per packet on the wire, including framing where the link has it
    lossless: str
    source: str

    @property
    def payload_efficiency(self) -> float:
        """Fraction of the link rate that carries payload at full-MTU packets."""
        return self.mtu_bytes / (self.mtu_bytes + self.header_bytes)


_ETHERNET_OVERHEAD = 8 + 14 + 4 + 12  # preamble+SFD, MAC header, FCS, inter-frame gap
_ROCE_HEADERS = 20 + 8 + 12 + 4  # IPv4, UDP, IB BTH, ICRC

TRANSPORTS: dict[str, Transport] = {
    "infiniband": Transport(
        "infiniband", "adaptive", 4096, 8 + 12 + 4 + 2, "credit-based link-level flow control",
        "IBTA spec vol.1: LRH 8 B, BTH 12 B, ICRC 4 B, VCRC 2 B; MTU 4096; adaptive routing on Quantum-2",
    ),
    "roce": Transport(
        "roce", "ecmp", 4096, _ETHERNET_OVERHEAD + _ROCE_HEADERS,
        "PFC + ECN/DCQCN (steady state: max-min fair at full utilisation)",
        "RoCEv2 (IBTA annex A17): Ethernet framing 38 B + IPv4 20 + UDP 8 + BTH 12 + ICRC 4; ECMP per-flow hashing",
    ),
    "spectrum-x": Transport(
        "spectrum-x", "spray", 4096, _ETHERNET_OVERHEAD + _ROCE_HEADERS, "PFC/ECN + NVIDIA congestion control",
        "RoCEv2 headers as roce; packet spraying + adaptive routing with reorder at the SuperNIC "
        "(seed 001_d75a99b56f43ca3a.txt)",
    ),
    "uec": Transport(
        "uec", "spray", 4096, _ETHERNET_OVERHEAD + 20 + 8 + 12 + 4, "UET credit-based incast control",
        "Ultra Ethernet 1.0: packet spraying, reorder-tolerant transport (seed 001); header size ASSUMED equal "
        "to RoCEv2's",
    ),
    "efa": Transport(
        "efa", "spray", 4096, _ETHERNET_OVERHEAD + _ROCE_HEADERS,
        "none: SRD retransmits lost packets from the sender, sender-based congestion control",
        "AWS SRD (Shalev et al., IEEE Micro 2020): per-packet multipath spraying by the sender over ECMP paths, "
        "out-of-order delivery; packet payload and header sizes ASSUMED equal to RoCEv2's (SRD's wire format is "
        "not published)",
    ),
}


def get_transport(name: str) -> Transport:
    if name not in TRANSPORTS:
        raise FabricsimError(f"transport {name!r}: valid transports are {', '.join(TRANSPORTS)}")
    return TRANSPORTS[name]
