"""Max-min fair rates: hand-computed cases, the definition of max-min fairness as properties, the
epsilon guarantees proved in fabricsim.netsim.maxmin, and why no per-flow bound can hold."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fabricsim.errors import FabricsimError
from fabricsim.netsim import bottleneck_rate, link_loads, max_min_rates
from fabricsim.netsim.maxmin import fill, prepare_incidence


def csr(rows):
    return sp.csr_matrix(np.asarray(rows, dtype=float))


def reference_max_min(dense, capacity, demand=None):
    """Textbook progressive filling on a dense matrix: every unfrozen flow at the common level t."""
    dense = np.asarray(dense, dtype=float)
    n_flows = dense.shape[0]
    demand = np.full(n_flows, np.inf) if demand is None else np.asarray(demand, dtype=float)
    rates = np.zeros(n_flows)
    frozen = dense.sum(axis=1) == 0
    rates[frozen] = demand[frozen]
    while not frozen.all():
        act = ~frozen
        used = dense[frozen].T @ np.where(np.isfinite(rates[frozen]), rates[frozen], 0.0)
        weight = dense[act].sum(axis=0)
        share = np.where(weight > 0, np.maximum(capacity - used, 0) / np.where(weight > 0, weight, 1), np.inf)
        t = min(share.min(), demand[act].min())
        tight = share <= t * (1 + 1e-9)
        newly = act & ((dense[:, tight] > 0).any(axis=1) | (demand <= t * (1 + 1e-9)))
        assert newly.any()
        rates[newly] = t
        frozen |= newly
    return rates


# --- hand-computed cases -------------------------------------------------------------------


def test_three_flows_two_links_all_get_half():
    # A on both links, B on link 1, C on link 2, capacity 1 each
    rates = max_min_rates(csr([[1, 1], [1, 0], [0, 1]]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(rates, [0.5, 0.5, 0.5])


def test_demand_capped_flow_leaves_the_rest_to_the_others():
    rates = max_min_rates(csr([[1], [1], [1], [1]]), np.array([10.0]), demand=np.array([1, np.inf, np.inf, np.inf]))
    np.testing.assert_allclose(rates, [1, 3, 3, 3])


def test_classic_linear_network():
    # long flow over links 0..2 (capacities 1, 2, 3), one short flow per link
    rates = max_min_rates(csr([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(rates, [0.5, 0.5, 1.5, 2.5])


def test_weights_sprayed_flow_and_double_crossing():
    # flow 0 sprayed over links 0 and 1 (1/2 each); flow 1 alone on link 0: capacities 1, 1
    # level t: link 0 fills at t/2 + t = 1 -> t = 2/3; flow 0 also frozen there
    np.testing.assert_allclose(max_min_rates(csr([[0.5, 0.5], [1, 0]]), np.array([1.0, 1.0])), [2 / 3, 2 / 3])
    # a path crossing a link twice uses it twice: 2x + x = 3 -> x = 1
    np.testing.assert_allclose(max_min_rates(csr([[2.0], [1.0]]), np.array([3.0])), [1.0, 1.0])


def test_loopback_flows_get_their_demand_or_infinity():
    incidence = csr([[0, 0], [1, 0], [0, 0]])
    rates = max_min_rates(incidence, np.array([4.0, 4.0]))
    assert rates[0] == np.inf and rates[2] == np.inf and rates[1] == 4.0
    rates = max_min_rates(incidence, np.array([4.0, 4.0]), demand=np.array([7.0, 9.0, np.inf]))
    np.testing.assert_array_equal(rates, [7.0, 4.0, np.inf])
    assert max_min_rates(sp.csr_matrix((3, 0)), np.zeros(0)).tolist() == [np.inf] * 3
    assert max_min_rates(sp.csr_matrix((0, 2)), np.ones(2)).size == 0


def test_explicit_zeros_and_unused_dead_links_are_fine():
    incidence = sp.csr_matrix((np.array([1.0, 0.0, 1.0]), np.array([0, 1, 0]), np.array([0, 2, 3])), shape=(2, 3))
    before = incidence.data.copy()
    rates = max_min_rates(incidence, np.array([2.0, 0.0, 0.0]))  # links 1, 2 dead but unused
    np.testing.assert_allclose(rates, [1.0, 1.0])
    np.testing.assert_array_equal(incidence.data, before)  # caller's matrix untouched


def test_input_errors_are_clear():
    with pytest.raises(FabricsimError, match="one entry per link"):
        max_min_rates(csr([[1, 1]]), np.ones(3))
    with pytest.raises(FabricsimError, match="capacity 0"):
        max_min_rates(csr([[1, 1]]), np.array([1.0, 0.0]))
    with pytest.raises(FabricsimError, match="capacity must be finite and > 0"):
        max_min_rates(csr([[1, 0]]), np.array([1.0, -1.0]))
    with pytest.raises(FabricsimError, match="weights must be >= 0"):
        max_min_rates(csr([[1, -1]]), np.ones(2))
    with pytest.raises(FabricsimError, match="demand must have one entry per flow"):
        max_min_rates(csr([[1, 1]]), np.ones(2), demand=np.ones(2))
    with pytest.raises(FabricsimError, match="demand must be > 0"):
        max_min_rates(csr([[1, 1]]), np.ones(2), demand=np.zeros(1))
    with pytest.raises(FabricsimError, match="epsilon"):
        max_min_rates(csr([[1, 1]]), np.ones(2), epsilon=-0.1)
    with pytest.raises(FabricsimError, match="scipy.sparse"):
        max_min_rates([[1, 1]], np.ones(2))


def test_link_loads_and_bottleneck_rate():
    incidence = csr([[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(link_loads(incidence, np.array([2.0, 3.0, np.inf])), [2.0, 5.0, 0.0])
    # lockstep ring: link 1 carries two hops -> 10 / 2
    assert bottleneck_rate(incidence, np.array([8.0, 10.0, 1.0])) == 5.0
    assert bottleneck_rate(csr([[0.5, 2.0]]), np.array([1.0, 3.0])) == 1.5
    assert bottleneck_rate(sp.csr_matrix((2, 2)), np.ones(2)) == np.inf
    with pytest.raises(FabricsimError):
        link_loads(incidence, np.ones(2))


# --- properties ------------------------------------------------------------------------------


@st.composite
def instances(draw, with_demand=True):
    n_flows = draw(st.integers(1, 12))
    n_links = draw(st.integers(1, 6))
    weights = st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 2.0])
    dense = np.array(draw(st.lists(st.lists(weights, min_size=n_links, max_size=n_links),
                                   min_size=n_flows, max_size=n_flows)))
    capacity = np.array(draw(st.lists(st.integers(1, 20), min_size=n_links, max_size=n_links)), dtype=float)
    demand = None
    if with_demand and draw(st.booleans()):
        demand = np.array(draw(st.lists(st.sampled_from([np.inf, 1.0, 2.5, 4.0, 7.0]),
                                        min_size=n_flows, max_size=n_flows)))
    return dense, capacity, demand


def check_bottlenecks(dense, capacity, demand, rates, eps):
    """Every flow is at its demand or has a link loaded to >= C/(1+eps) where its rate is the largest."""
    load = dense.T @ np.where(np.isfinite(rates), rates, 0.0)
    tol = 1e-9
    demand = np.full(dense.shape[0], np.inf) if demand is None else demand
    for f in range(dense.shape[0]):
        if rates[f] >= demand[f] * (1 - tol):
            continue
        links = np.flatnonzero(dense[f] > 0)
        assert links.size, "a flow crossing no link must get its demand"
        ok = False
        for link in links:
            on = dense[:, link] > 0
            if load[link] >= capacity[link] / (1 + eps) * (1 - tol) and rates[f] >= rates[on].max() * (1 - tol):
                ok = True
        assert ok, f"flow {f} (rate {rates[f]}) has no bottleneck link"


def check_feasible(dense, capacity, demand, rates):
    load = dense.T @ np.where(np.isfinite(rates), rates, 0.0)
    assert np.all(load <= capacity * (1 + 1e-9))
    if demand is not None:
        assert np.all(rates <= demand * (1 + 1e-12))
    assert np.all(rates > 0)


def lex_ge(a, b, rtol=1e-9):
    """sorted(a) >= sorted(b) lexicographically, entries within rtol counting as equal."""
    for x, y in zip(np.sort(a), np.sort(b)):
        if x > y * (1 + rtol) + 1e-300:
            return True
        if x < y * (1 - rtol):
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(instances())
def test_exact_is_max_min_fair_and_matches_the_textbook_algorithm(inst):
    dense, capacity, demand = inst
    rates = max_min_rates(csr(dense), capacity, demand)
    check_feasible(dense, capacity, demand, rates)
    check_bottlenecks(dense, capacity, demand, rates, 0.0)
    np.testing.assert_allclose(rates, reference_max_min(dense, capacity, demand), rtol=1e-9)


@settings(max_examples=300, deadline=None)
@given(instances(), st.sampled_from([0.01, 0.1, 0.5, 2.0]))
def test_epsilon_guarantees(inst, eps):
    """Points 1-4 of the maxmin module docstring: feasible, eps-bottlenecked, leximin sandwich,
    smallest rate exact, iterations <= 1 + log(max/min)/log(1+eps)."""
    dense, capacity, demand = inst
    matrix, cap, dem = prepare_incidence(csr(dense), capacity, demand)
    rates, iterations = fill(matrix, cap, dem, eps)
    exact = max_min_rates(csr(dense), capacity, demand)
    check_feasible(dense, capacity, demand, rates)
    check_bottlenecks(dense, capacity, demand, rates, eps)
    assert lex_ge(exact, rates)
    assert lex_ge(rates, exact / (1 + eps))
    finite = np.isfinite(exact)
    if finite.any():
        assert rates[finite].min() == pytest.approx(exact[finite].min(), rel=1e-9)
        spread = rates[finite].max() / rates[finite].min()
        assert iterations <= 1 + np.log(spread) / np.log1p(eps) + 1e-9


def fan_in(k, eps):
    """k gadgets (A_i, B_i on link a_i of cap 1; A_i, C_i on link b_i of cap 1+eps); C_1..C_k and D on
    link z of cap (k+1)(0.5+eps).  Exact: A, B = 0.5, C = D = 0.5+eps.  eps-filling freezes b_i with a_i
    (share 0.5+eps/2 within 1+eps of 0.5), so each C_i gets 0.5+eps/2 and D collects the k eps/2 left."""
    n_links = 2 * k + 1
    rows = []
    for i in range(k):
        rows.append({2 * i: 1.0, 2 * i + 1: 1.0})  # A_i
        rows.append({2 * i: 1.0})  # B_i
        rows.append({2 * i + 1: 1.0, 2 * k: 1.0})  # C_i
    rows.append({2 * k: 1.0})  # D
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [link for row in rows for link in row]
    incidence = sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_links))
    capacity = np.tile([1.0, 1.0 + eps], k + 1)[:n_links]
    capacity[2 * k] = (k + 1) * (0.5 + eps)
    return incidence, capacity


def test_no_pointwise_bound_fan_in():
    """Why the documented bound is the leximin sandwich and not x_f >= x*_f/(1+eps)^k per flow."""
    eps, k = 0.01, 100
    incidence, capacity = fan_in(k, eps)
    exact = max_min_rates(incidence, capacity)
    approx = max_min_rates(incidence, capacity, epsilon=eps)
    assert exact[-1] == pytest.approx(0.5 + eps)
    assert approx[-1] == pytest.approx(0.5 + eps + k * eps / 2)  # 1.98x the exact rate
    # ...yet every proved guarantee holds
    dense = incidence.toarray()
    check_feasible(dense, capacity, None, approx)
    check_bottlenecks(dense, capacity, None, approx, eps)
    assert lex_ge(exact, approx) and lex_ge(approx, exact / (1 + eps))
    # and max-min itself is that sensitive: lowering each b_i by 1% of its load moves D as much
    capacity2 = capacity.copy()
    capacity2[1 : 2 * k : 2] -= eps / 2
    assert max_min_rates(incidence, capacity2)[-1] == pytest.approx(approx[-1])


@pytest.mark.parametrize("mixed", [False, True])
def test_random_5_link_flows_match_reference_and_error_is_small(mixed):
    """Medium random instance (the benchmark's shape): exact matches the textbook algorithm; with
    eps = 1% the observed per-flow error stays within a few eps (empirical, not a guarantee)."""
    rng = np.random.default_rng(7)
    n_flows, n_links = 600, 120
    cols = rng.integers(0, n_links, (n_flows, 5))
    incidence = sp.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(n_flows), 5), cols.ravel())),
                              shape=(n_flows, n_links))
    capacity = rng.choice([100e9, 400e9, 800e9], n_links) if mixed else np.full(n_links, 400e9)
    exact = max_min_rates(incidence, capacity)
    np.testing.assert_allclose(exact, reference_max_min(incidence.toarray(), capacity), rtol=1e-9)
    approx = max_min_rates(incidence, capacity, epsilon=0.01)
    ratio = approx / exact
    assert ratio.min() > 1 / 1.05 and ratio.max() < 1.05
    assert abs(np.median(ratio) - 1) < 0.01


def test_demand_larger_than_everything_changes_nothing():
    rng = np.random.default_rng(1)
    dense = (rng.random((30, 8)) < 0.3).astype(float)
    dense[:, 0] = 1.0
    capacity = rng.integers(1, 10, 8).astype(float)
    free = max_min_rates(csr(dense), capacity)
    np.testing.assert_allclose(max_min_rates(csr(dense), capacity, demand=np.full(30, 1e6)), free)
    capped = max_min_rates(csr(dense), capacity, demand=np.full(30, free.min() / 2))
    np.testing.assert_allclose(capped, free.min() / 2)


@given(st.integers(1, 50), st.floats(0.1, 1e3))
def test_equal_flows_on_one_link_share_it_equally(n, cap):
    rates = max_min_rates(sp.csr_matrix(np.ones((n, 1))), np.array([cap]))
    np.testing.assert_allclose(rates, cap / n, rtol=1e-12)
    assume(n > 1)
    assert bottleneck_rate(sp.csr_matrix(np.ones((n, 1))), np.array([cap])) == pytest.approx(cap / n)
