"""What the collective library's network plugin changes in the library, for the scenario's NIC.

A NIC the library does not drive itself names its plugin (catalog ``nics.<name>.net_plugin``, e.g.
AWS EFA -> aws-ofi-nccl on p5).  The plugin (catalog ``net_plugins``) changes four things, each read
from its source:

* the library's settings it exports as defaults -- of these fabricsim's model uses the Simple
  connection buffer (``NCCL_BUFFSIZE``: the pipeline fill, :func:`fabricsim.collectives.nccl_model
  .fill_bytes`), the NVLS chunk (``NCCL_NVLS_CHUNKSIZE``) and the point-to-point network chunk
  (``NCCL_P2P_NET_CHUNKSIZE``: :mod:`fabricsim.collectives.p2p_copy`);
* the latency it reports for its NICs, which NCCL's cost model adds to every network step (twice for
  Simple) -- :attr:`Communicator.net_latency_s`;
* the protocols it leaves enabled -- :attr:`Communicator.protocols`;
* its tuner's decision table, if it has one -- :mod:`fabricsim.collectives.region_tuner`.

As for every other constant of the library's cost model, the time NCCL predicts with these figures is
the time the call is taken to run (ASSUMPTION, fabricsim's convention for NCCL's own constants).
Without a plugin nothing changes: NCCL's InfiniBand and socket transports report latency 0.
"""

from __future__ import annotations

ENV_FIELDS = {"NCCL_NVLS_CHUNKSIZE": "nvls_chunk_bytes"}
"""Plugin settings that replace one library constant (NVIDIA/nccl src/transport/nvls.cc NCCL_NVLS_CHUNKSIZE)."""


def net_plugin(design):
    """The catalog entry of the plugin that drives the design's NIC, or None."""
    name = design.nic.net_plugin
    return design.scenario.catalog().get("net_plugins", name) if name else None


def with_plugin_settings(lib, plugin):
    """The library's constants with the plugin's exported settings applied (NCCL_BUFFSIZE sets the
    Simple buffer only: NVIDIA/nccl src/init.cc reads NCCL_LL_BUFFSIZE, NCCL_LL128_BUFFSIZE and
    NCCL_BUFFSIZE for LL, LL128 and Simple)."""
    if plugin is None or not plugin.nccl_env:
        return lib
    update = {}
    env = plugin.nccl_env
    if "NCCL_BUFFSIZE" in env:
        update["buffer_bytes"] = {**lib.buffer_bytes, "simple": int(env["NCCL_BUFFSIZE"])}
    if "NCCL_P2P_NET_CHUNKSIZE" in env:  # the point-to-point chunk across nodes (NVIDIA/nccl src/init.cc)
        update["p2p_chunk_bytes"] = {**lib.p2p_chunk_bytes, "net": int(env["NCCL_P2P_NET_CHUNKSIZE"])}
    for key, field in ENV_FIELDS.items():
        if key in env:
            update[field] = int(env[key])
    return lib.model_copy(update=update) if update else lib
