"""fabricsim.netsim: routing, max-min fair rate allocation and the fluid flow-level event loop.

The rate engine (:mod:`~fabricsim.netsim.maxmin`, :mod:`~fabricsim.netsim.fluid`) is
topology-agnostic: it sees a sparse flow x link incidence matrix and link capacities (bits/s).
"""

from fabricsim.netsim.fluid import FluidResult, simulate_flows
from fabricsim.netsim.maxmin import bottleneck_rate, link_loads, max_min_rates

__all__ = ["FluidResult", "bottleneck_rate", "link_loads", "max_min_rates", "simulate_flows"]
