"""A published reference architecture's switch and cable counts, reproduced exactly.

Source: NVIDIA DGX SuperPOD Reference Architecture with DGX B200 systems, "DGX SuperPOD
Architecture", table "Larger DGX SuperPOD component counts" (docs.nvidia.com/dgx-superpod/
reference-architecture-scalable-infrastructure-b200/latest/dgx-superpod-architecture.html):
DGX B200 (8 GPUs, 8 x 400G ConnectX-7), NDR InfiniBand (Quantum-2 QM9700, 64 x 400G),
rail-optimized; scalable unit (SU) = 32 nodes.
"""

import pytest

from fabricsim.plan import plan_scenario
from fabricsim.scenario import scenario_from_dict

# SU count, GPUs, (leaf, spine, core) switches, (node-leaf, leaf-spine, spine-core) cables
SUPERPOD_B200 = [
    (2, 512, (16, 8, 0), (512, 512, 0)),
    (4, 1024, (32, 16, 0), (1024, 1024, 0)),
    (8, 2048, (64, 32, 0), (2048, 2048, 0)),
    (16, 4096, (128, 128, 64), (4096, 4096, 4096)),
    (32, 8192, (256, 256, 128), (8192, 8192, 8192)),
    (64, 16384, (512, 512, 256), (16384, 16384, 16384)),
]


@pytest.mark.parametrize("su,gpus,switches,cables", SUPERPOD_B200)
def test_dgx_superpod_b200_switch_and_cable_counts(su, gpus, switches, cables):
    scenario = scenario_from_dict({"cluster": {"gpu": "b200", "gpus": gpus},
                                   "fabric": {"switch": "quantum-2", "rail_optimized": True}})
    plan = plan_scenario(scenario)
    got_switches = tuple(t.switches for t in plan.tier_lines) + (0,) * (3 - plan.tiers)
    got_cables = tuple(t.links for t in plan.tier_lines) + (0,) * (3 - plan.tiers)
    assert got_switches == switches
    assert got_cables == cables
    assert plan.servers == 32 * su
