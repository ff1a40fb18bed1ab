"""Fat-tree arithmetic against hand-computed counts and structural invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.errors import FabricsimError
from fabricsim.topology.fat_tree import max_endpoints, size_fat_tree, split_ports


@pytest.mark.parametrize("k", [4, 8, 16, 32, 64])
def test_k_ary_three_tier_fat_tree_has_k3_over_4_hosts_and_5k2_over_4_switches(k):
    hosts = k**3 // 4
    shape = size_fat_tree(hosts, k, tiers=3, rail_optimized=False)
    assert max_endpoints(k, 3) == hosts
    assert shape.leaves == shape.spines == k * k // 2
    assert shape.cores == k * k // 4
    assert sum(shape.switches_per_tier) == 5 * k * k // 4
    assert shape.pods == k
    # every switch port is used in the full tree
    assert shape.ports_used_per_tier() == shape.ports_available_per_tier()


@pytest.mark.parametrize("k", [4, 8, 64])
def test_k_ary_two_tier_has_k2_over_2_hosts_and_3k_over_2_switches(k):
    shape = size_fat_tree(k * k // 2, k, tiers=2, rail_optimized=False)
    assert (shape.leaves, shape.spines, shape.cores) == (k, k // 2, 0)
    assert shape.ports_used_per_tier() == shape.ports_available_per_tier()


def test_oversubscribed_leaf_3_to_1_on_radix_64():
    down, up = split_ports(64, 3.0)
    assert (down, up) == (48, 16)
    shape = size_fat_tree(48 * 64, 64, tiers=2, oversubscription=(3.0,), rail_optimized=False)
    assert shape.leaves == 64 and shape.spines == 16
    assert max_endpoints(64, 2, (3.0, 1.0)) == 64 * 48


def test_oversubscription_at_both_tiers_reduces_switches_for_the_same_hosts():
    hosts = 65536
    blocking = size_fat_tree(hosts, 64, tiers=3, oversubscription=(3.0, 3.0), rail_optimized=False)
    nonblocking = size_fat_tree(hosts, 64, tiers=3, rail_optimized=False)
    assert sum(blocking.switches_per_tier) < sum(nonblocking.switches_per_tier)
    # leaf 48 down / 16 up: 65536/48 leaves; 1366 leaves x 16 uplinks
    assert blocking.leaves == -(-hosts // 48)


def test_partial_two_tier_bundles_parallel_links():
    # 32 leaves x 32 uplinks into radix-64 spines: 16 spines, 2 parallel links per leaf-spine pair
    shape = size_fat_tree(1024, 64, tiers=2, rails=8)
    assert (shape.leaves, shape.spines, shape.bundle_leaf) == (32, 16, 2)


def test_auto_tiers_and_too_small_radix_message():
    assert size_fat_tree(64, 64).tiers == 1
    assert size_fat_tree(2048, 64).tiers == 2
    assert size_fat_tree(2049, 64).tiers == 3
    with pytest.raises(FabricsimError, match=r"tiers=2 cannot connect 200,000 GPUs with radix 128; maximum is 8,192; use tiers=3"):
        size_fat_tree(200_000, 128, tiers=2)
    with pytest.raises(FabricsimError, match="maximum 65,536 GPUs with 3 tiers"):
        size_fat_tree(70_000, 64)


@settings(max_examples=60, deadline=None)
@given(
    endpoints=st.integers(1, 40_000),
    radix=st.sampled_from([16, 32, 48, 64, 128]),
    over=st.sampled_from([1.0, 2.0, 3.0]),
    rails=st.sampled_from([1, 4, 8]),
)
def test_ports_used_never_exceed_ports_available(endpoints, radix, over, rails):
    try:
        shape = size_fat_tree(endpoints, radix, "auto", (over, 1.0), rails=rails)
    except FabricsimError:
        assert endpoints > max_endpoints(radix, 3, (over, 1.0)) // 2  # only near or above the limit
        return
    used, available = shape.ports_used_per_tier(), shape.ports_available_per_tier()
    assert all(u <= a for u, a in zip(used, available))
    assert shape.leaves * shape.leaf_down >= endpoints
    assert np.all(np.array(shape.links_per_tier) >= 0)
