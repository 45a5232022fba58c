"""pass@k, confidence intervals and paired tests: hand-checked values and properties."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uscd import metrics
from uscd.metrics import (
    binomial_two_sided_half,
    bootstrap_mean_ci,
    mcnemar_exact,
    mean_pass_at_k,
    paired_bootstrap,
    pass_at_1_ci,
    pass_at_k,
    pass_at_k_ci,
    wilson_interval,
)

try:
    from statsmodels.stats.multitest import multipletests
except ImportError:
    multipletests = None


@st.composite
def n_c_k(draw):
    n = draw(st.integers(1, 200))
    c = draw(st.integers(0, n))
    k = draw(st.integers(1, n))
    return n, c, k


counts_lists = st.lists(
    st.integers(1, 20).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))), min_size=1
)


# --------------------------------------------------------------------------- pass@k


def test_pass_at_k_known_values():
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # 1 - C(7,5)/C(10,5)
    assert pass_at_k(200, 10, 1) == pytest.approx(0.05)
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(5, 3, 3) == 1.0  # n - c < k: every k-subset holds a correct sample
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 6), (5, 2, 0), (5, 6, 1), (5, -1, 1), (0, 0, 1)])
def test_pass_at_k_rejects_undefined(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


@given(n_c_k())
def test_pass_at_k_matches_exact_combinatorics(args):
    n, c, k = args
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12)


@given(n_c_k())
def test_pass_at_k_matches_chen_et_al_product_form(args):
    n, c, k = args
    product = math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))
    expected = 1.0 if n - c < k else 1.0 - product
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-9)


@given(n_c_k())
def test_pass_at_k_is_monotone(args):
    n, c, k = args
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0
    if c < n:
        assert pass_at_k(n, c + 1, k) >= value
    if k < n:
        assert pass_at_k(n, c, k + 1) >= value - 1e-12
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)


def test_mean_pass_at_k():
    assert mean_pass_at_k([(10, 3), (10, 0), (10, 10)], 1) == pytest.approx((0.3 + 0 + 1) / 3)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)
    with pytest.raises(ValueError):
        mean_pass_at_k([(10, 3), (2, 1)], 5)  # k > n for one problem


# --------------------------------------------------------------------------- intervals


def test_wilson_known_values():
    # 95% Wilson score intervals, standard textbook values (re-derived by hand for 72/164)
    est, lo, hi = wilson_interval(5, 10)
    assert (est, lo, hi) == pytest.approx((0.5, 0.236593090512564, 0.763406909487436))
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.0, 0.277532799862889))
    assert wilson_interval(10, 10) == pytest.approx((1.0, 0.722467200137111, 1.0))
    # by hand: centre (p + z²/2n) / (1 + z²/n) = 0.440420, half-width 0.075091
    assert wilson_interval(72, 164) == pytest.approx((72 / 164, 0.365329, 0.515511), abs=1e-6)


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_properties(args):
    successes, trials = args
    est, lo, hi = wilson_interval(successes, trials)
    assert 0.0 <= lo <= est <= hi <= 1.0
    mirrored = wilson_interval(trials - successes, trials)
    assert mirrored.lo == pytest.approx(1 - hi, abs=1e-12) and mirrored.hi == pytest.approx(1 - lo, abs=1e-12)


def test_pass_at_1_ci_uses_wilson_for_single_samples():
    counts = [(1, 1)] * 72 + [(1, 0)] * 92
    assert pass_at_1_ci(counts) == wilson_interval(72, 164)
    _, lo, hi = pass_at_1_ci(counts, confidence=0.9)
    assert lo > wilson_interval(72, 164).lo and hi < wilson_interval(72, 164).hi


def test_pass_at_1_ci_bootstraps_multiple_samples():
    counts = [(10, c) for c in [0, 1, 3, 5, 7, 10, 10, 2, 0, 9] * 5]
    a = pass_at_1_ci(counts, n_boot=2000, seed=1)
    b = pass_at_1_ci(counts, n_boot=2000, seed=1)
    assert a == b  # seeded: reproducible
    assert a.estimate == pytest.approx(sum(c for _, c in counts) / (10 * len(counts)))
    assert a.lo < a.estimate < a.hi
    # the bootstrap interval of a mean has roughly the normal-theory width
    values = [c / 10 for _, c in counts]
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    assert (a.hi - a.lo) == pytest.approx(2 * 1.96 * sd / math.sqrt(len(values)), rel=0.15)


@settings(max_examples=30, deadline=None)
@given(counts_lists, st.integers(0, 1000))
def test_pass_at_k_ci_contains_the_estimate(counts, seed):
    est, lo, hi = pass_at_k_ci(counts, 1, n_boot=200, seed=seed)
    assert 0.0 <= lo <= est + 1e-12 and est - 1e-12 <= hi <= 1.0
    assert est == pytest.approx(mean_pass_at_k(counts, 1))


def test_bootstrap_of_a_constant_is_degenerate():
    assert bootstrap_mean_ci([0.25] * 30, n_boot=100) == pytest.approx((0.25, 0.25, 0.25))
    with pytest.raises(ValueError):
        bootstrap_mean_ci([])
    with pytest.raises(ValueError):
        bootstrap_mean_ci([1.0], confidence=1.0)


@pytest.mark.parametrize(("p", "z"), [(0.975, 1.959963984540054), (0.95, 1.6448536269514722), (0.5, 0.0)])
def test_normal_quantile(p, z):
    assert metrics._normal_quantile(p) == pytest.approx(z, abs=1e-9)


# --------------------------------------------------------------------------- paired tests


def test_mcnemar_known_values():
    baseline = [True] * 9 + [False] * 1 + [True] * 50 + [False] * 40
    candidate = [False] * 9 + [True] * 1 + [True] * 50 + [False] * 40
    b, c, p = mcnemar_exact(baseline, candidate)
    assert (b, c) == (1, 9)
    assert p == pytest.approx(2 * (1 + 10) / 1024)  # 0.021484375
    assert mcnemar_exact([True, False], [True, False]) == (0, 0, 1.0)
    assert binomial_two_sided_half(0, 5) == pytest.approx(2 / 32)
    assert binomial_two_sided_half(5, 10) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


@settings(deadline=None)
@given(st.integers(0, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_binomial_matches_scipy(args):
    scipy_stats = pytest.importorskip("scipy.stats")  # optional: only a cross-check
    k, n = args
    expected = scipy_stats.binomtest(k, n, 0.5).pvalue if n else 1.0
    assert binomial_two_sided_half(k, n) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=200))
def test_mcnemar_properties(pairs):
    baseline = [x for x, _ in pairs]
    candidate = [y for _, y in pairs]
    b, c, p = mcnemar_exact(baseline, candidate)
    assert b + c == sum(x != y for x, y in pairs)
    assert 0.0 < p <= 1.0
    assert mcnemar_exact(candidate, baseline) == (c, b, p)


def test_paired_bootstrap_detects_a_clear_improvement():
    baseline = [(10, c) for c in [2, 3, 4, 5, 1, 0, 6, 7, 3, 2] * 6]
    candidate = [(n, min(n, c + 2)) for n, c in baseline]
    diff = paired_bootstrap(baseline, candidate, n_boot=2000, seed=3)
    assert diff.mean_diff == pytest.approx(0.2, abs=1e-12)
    assert 0 < diff.lo <= diff.mean_diff <= diff.hi
    assert diff.p_value < 0.01
    assert paired_bootstrap(baseline, candidate, n_boot=2000, seed=3) == diff


def test_paired_bootstrap_without_difference():
    counts = [(5, c) for c in [0, 1, 2, 3, 4, 5] * 4]
    diff = paired_bootstrap(counts, counts, n_boot=500)
    assert (diff.mean_diff, diff.lo, diff.hi, diff.p_value) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        paired_bootstrap(counts, counts[:-1])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=40), st.integers(0, 99))
def test_paired_bootstrap_properties(pairs, seed):
    baseline = [(5, a) for a, _ in pairs]
    candidate = [(5, b) for _, b in pairs]
    diff = paired_bootstrap(baseline, candidate, n_boot=200, seed=seed)
    assert -1.0 <= diff.lo <= diff.mean_diff + 1e-12 and diff.mean_diff - 1e-12 <= diff.hi <= 1.0
    assert 0.0 < diff.p_value <= 1.0
    flipped = paired_bootstrap(candidate, baseline, n_boot=200, seed=seed)
    assert flipped.mean_diff == pytest.approx(-diff.mean_diff)
    assert flipped.p_value == pytest.approx(diff.p_value)


# --------------------------------------------------------------------------- Holm


def test_holm_by_hand():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06
    assert metrics.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert metrics.holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert metrics.holm([0.02]) == [0.02] and metrics.holm([]) == []
    assert metrics.holm([0.01, 0.01, 0.5]) == pytest.approx([0.03, 0.03, 0.5])  # ties share a value
    with pytest.raises(ValueError):
        metrics.holm([0.1, 1.5])


@pytest.mark.skipif(multipletests is None, reason="statsmodels is not installed (the dev extra has it)")
@settings(max_examples=25)  # one multipletests call costs ~0.1 s here
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_matches_statsmodels(p_values):
    reject, corrected, _, _ = multipletests(p_values, alpha=0.05, method="holm")
    assert metrics.holm(p_values) == pytest.approx(list(corrected), abs=1e-12)
    ours = [p <= 0.05 for p in metrics.holm(p_values)]  # statsmodels rejects at p <= alpha / (m - i + 1)
    assert ours == list(reject)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_is_between_the_raw_and_the_bonferroni_p_value(p_values):
    m = len(p_values)
    for p, adjusted in zip(p_values, metrics.holm(p_values), strict=True):
        assert p <= adjusted <= min(1.0, m * p) + 1e-15
