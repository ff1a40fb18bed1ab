"""GPUs that share a NIC (cluster.gpus_per_nic): A100 HGX boards cabled with 4 HDR NICs for 8 GPUs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabricsim.collectives.analytic import transfer_time
from fabricsim.collectives.api import run_collective
from fabricsim.collectives.nccl_patterns import entry_positions
from fabricsim.collectives.timing import communicator
from fabricsim.errors import FabricsimError
from fabricsim.plan import plan_scenario
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.topology.design import design_fabric

GiB = 2**30


def _scenario(gpus: int = 32, gpus_per_nic: int = 2, **cluster):
    return scenario_from_dict({"cluster": {"gpu": "a100-sxm", "gpus": gpus, "gpus_per_nic": gpus_per_nic, **cluster},
                               "fabric": {"switch": "quantum-hdr"}})


def test_a_shared_nic_is_one_card_one_port_and_one_cable_for_two_gpus():
    """Hand count: 4 servers x 8 A100 with 4 HDR NICs each = 16 cards, 16 ports, 16 leaf ports."""
    plan = plan_scenario(_scenario())
    assert (plan.nic_cards, plan.nic_ports) == (16, 16)
    assert plan.tier_lines[0].ports_used == 16
    assert plan.max_gpus_at_these_tiers == 2 * 40  # a 40-port HDR leaf, two GPUs behind each port
    design = design_fabric(_scenario())
    assert design.scale_out_bits_per_s == 100e9 and design.nic_bits_per_s == 200e9  # per GPU, per NIC
    fabric = fabric_from_scenario(_scenario())
    assert list(fabric.endpoint_gpu[:4]) == [0, 2, 4, 6]  # each NIC port named by its first GPU


def test_a_node_with_half_the_nics_moves_an_all_reduce_at_half_the_rate():
    """Byte count: a ring all-reduce across nodes is bound by the node's NIC bandwidth; 4 shared NICs
    carry half of what 8 NICs of the same speed carry, and exactly what 8 NICs of half the speed carry."""
    def simple_s(**cluster):
        fabric = fabric_from_scenario(_scenario(**cluster))
        comm = communicator(fabric.design, np.arange(32))
        return transfer_time(fabric.design, comm, "all_reduce", "ring", GiB), comm

    shared, comm = simple_s()
    dedicated, _ = simple_s(gpus_per_nic=1)
    half_speed, _ = simple_s(gpus_per_nic=1, scale_out_per_gpu="100G")
    assert comm.nic_bytes_per_s == 25e9 and comm.gpus_per_nic == 2
    assert shared == pytest.approx(2 * dedicated, rel=1e-9)
    assert shared == pytest.approx(half_speed, rel=1e-9)


def test_one_gpu_per_node_gets_the_whole_shared_nic():
    """A send/recv between two nodes' first GPUs: nobody else uses the NIC, so it runs at the NIC's full
    200G, as on a GPU with its own HDR NIC (flow-level and analytic)."""
    for method in ("flow", "analytic"):
        shared = run_collective(fabric_from_scenario(_scenario(gpus=16)), "send_recv", "direct", [GiB], ranks=2,
                                placement="one-per-node", method=method).results[0]
        own = run_collective(fabric_from_scenario(_scenario(gpus=16, gpus_per_nic=1)), "send_recv", "direct", [GiB],
                             ranks=2, placement="one-per-node", method=method).results[0]
        assert shared.time_s == pytest.approx(own.time_s, rel=1e-9)


@given(rings=st.integers(1, 64), nics=st.integers(1, 8), gpus_per_nic=st.sampled_from([1, 2, 4]))
def test_rings_share_the_nics_evenly(rings, nics, gpus_per_nic):
    """Every NIC of a node carries floor or ceil(rings / NICs) rings; with a NIC per GPU, ring r enters at r."""
    m = nics * gpus_per_nic
    positions = entry_positions(rings, m, gpus_per_nic)
    per_nic = np.bincount(positions % m // gpus_per_nic, minlength=nics)
    assert per_nic.max() - per_nic.min() <= 1 and per_nic.sum() == rings
    if gpus_per_nic == 1:
        assert list(positions) == list(range(rings))


def test_gpus_per_nic_must_divide_the_server():
    with pytest.raises(FabricsimError, match=r"cluster.gpus_per_nic=3: .* valid: 1, 2, 4, 8"):
        design_fabric(_scenario(gpus_per_nic=3))
