"""Rate-engine speed: max-min allocation (exact vs epsilon) and the fluid event loop.

    python benchmarks/bench_maxmin.py            # full table (1M flows included, ~1 min)
    python benchmarks/bench_maxmin.py --quick    # skip the slow exact 262k and the 1M rows

Max-min instances: F flows, each over 5 random links among F/5 links (so ~25 flows per link),
capacities all 400 Gb/s ("equal") or drawn from 100/200/400/800 Gb/s ("mixed").  The error
columns compare epsilon = 1% with the exact rates (where the exact run is done).

Fluid instance: a synthetic 3-tier fat-tree of radix-64 switches (32,768 hosts, 32 pods of 32
leaves, 32 spines per pod, 1,024 cores), one flow per host to a random other host (a random
permutation), ECMP-style random uplinks, sizes drawn from 1/16/64/256 MiB times 1..4.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from fabricsim.netsim.fluid import simulate_flows
from fabricsim.netsim.maxmin import fill, prepare_incidence


def random_instance(n_flows: int, links_per_flow: int = 5, mixed: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_links = n_flows // 5
    cols = rng.integers(0, n_links, (n_flows, links_per_flow))
    rows = np.repeat(np.arange(n_flows), links_per_flow)
    incidence = sp.csr_matrix((np.ones(cols.size), (rows, cols.ravel())), shape=(n_flows, n_links))
    if mixed:
        capacity = rng.choice([100e9, 200e9, 400e9, 800e9], n_links)
    else:
        capacity = np.full(n_links, 400e9)
    return incidence, capacity


def fat_tree_permutation(hosts_per_leaf=32, leaves_per_pod=32, pods=32, seed=0):
    """Incidence of a random permutation over a 3-tier fat-tree with random (ECMP-like) uplinks."""
    rng = np.random.default_rng(seed)
    up = hosts_per_leaf  # leaf uplinks = spines per pod; spine uplinks = cores per spine group
    hosts = hosts_per_leaf * leaves_per_pod * pods
    leaves = leaves_per_pod * pods
    spines = up * pods
    # arc blocks: host up | host down | leaf->spine | spine->leaf | spine->core | core->spine
    base = np.cumsum([0, hosts, hosts, leaves * up, leaves * up, spines * up, spines * up])
    src = np.arange(hosts)
    dst = rng.permutation(hosts)
    dst = np.where(dst == src, (dst + 1) % hosts, dst)
    leaf_s, leaf_d = src // hosts_per_leaf, dst // hosts_per_leaf
    pod_s, pod_d = leaf_s // leaves_per_pod, leaf_d // leaves_per_pod
    j = rng.integers(0, up, hosts)  # spine index in the pod
    k = rng.integers(0, up, hosts)  # core index among the spine's uplinks
    arcs = [base[0] + src, base[1] + dst]
    masks = [np.ones(hosts, bool), np.ones(hosts, bool)]
    cross_leaf = leaf_s != leaf_d
    cross_pod = pod_s != pod_d
    arcs += [base[2] + leaf_s * up + j, base[3] + leaf_d * up + j]
    masks += [cross_leaf, cross_leaf]
    arcs += [base[4] + (pod_s * up + j) * up + k, base[5] + (pod_d * up + j) * up + k]
    masks += [cross_pod, cross_pod]
    arcs, masks = np.column_stack(arcs), np.column_stack(masks)
    rows = np.repeat(src[:, None], arcs.shape[1], axis=1)[masks]
    incidence = sp.csr_matrix((np.ones(rows.size), (rows, arcs[masks])), shape=(hosts, base[-1]))
    capacity = np.full(base[-1], 400e9)
    sizes = rng.choice([2**20, 2**24, 2**26, 2**28], hosts) * rng.integers(1, 5, hosts)
    latency = np.where(cross_pod, 6, np.where(cross_leaf, 4, 2)) * 1e-6
    return incidence, capacity, sizes.astype(np.int64), latency


def time_fill(incidence, capacity, epsilon):
    t0 = time.perf_counter()
    matrix, cap, dem = prepare_incidence(incidence, capacity)
    rates, iterations = fill(matrix, cap, dem, epsilon)
    return rates, iterations, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("max-min allocation (5 random links per flow, F/5 links)")
    print(f"{'flows':>9s} {'caps':>6s} {'eps':>5s} {'iters':>6s} {'time s':>7s} "
          f"{'min ratio':>9s} {'max ratio':>9s} {'median |err|':>12s}")
    cases = [(32768, False), (32768, True), (262144, False), (262144, True), (1_000_000, False), (1_000_000, True)]
    for n_flows, mixed in cases:
        if args.quick and n_flows > 300_000:
            continue
        incidence, capacity = random_instance(n_flows, mixed=mixed)
        exact = None
        for eps in (0.0, 0.01):
            if eps == 0.0 and (n_flows > 300_000 or (args.quick and n_flows > 100_000)):
                continue
            rates, iterations, seconds = time_fill(incidence, capacity, eps)
            if eps == 0.0:
                exact = rates
                err = ""
            elif exact is not None:
                ratio = rates / exact
                err = f"{ratio.min():9.4f} {ratio.max():9.4f} {np.median(np.abs(ratio - 1)):12.2e}"
            else:
                err = f"{'-':>9s} {'-':>9s} {'-':>12s}"
            print(f"{n_flows:9,d} {'mixed' if mixed else 'equal':>6s} {eps:5.2f} {iterations:6d} {seconds:7.2f} {err}",
                  flush=True)

    print("\nfluid event loop: random permutation on a 3-tier fat-tree, 32,768 flows, mixed sizes")
    incidence, capacity, sizes, latency = fat_tree_permutation()
    print(f"{'eps':>6s} {'events':>6s} {'iters':>7s} {'time s':>7s} {'makespan ms':>11s} {'median finish ms':>16s}")
    reference = None
    for eps in (0.01, 0.001) if args.quick else (0.01, 0.001, 0.0):
        t0 = time.perf_counter()
        result = simulate_flows(incidence, capacity, sizes, latency_s=latency, epsilon=eps)
        seconds = time.perf_counter() - t0
        print(f"{eps:6.3f} {result.events:6d} {result.iterations:7d} {seconds:7.2f} "
              f"{result.makespan_s * 1e3:11.3f} {np.median(result.finish_s) * 1e3:16.3f}", flush=True)
        if eps == 0.0:
            reference = result
    if reference is not None:
        fast = simulate_flows(incidence, capacity, sizes, latency_s=latency, epsilon=0.01)
        ratio = fast.finish_s / reference.finish_s
        print(f"eps=0.01 vs exact finish times: min ratio {ratio.min():.4f}, max {ratio.max():.4f}, "
              f"median |err| {np.median(np.abs(ratio - 1)):.2e}")


if __name__ == "__main__":
    main()
