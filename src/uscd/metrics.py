"""Metrics over execution results: pass@k, confidence intervals, paired comparisons.

The one home of uscd's statistics. Pure Python (no numpy, no scipy): exact integer arithmetic
where it matters, seeded `random.Random` for the bootstraps, so results are reproducible across
machines.

Inputs are per-problem `(n, c)` pairs: n samples generated, c of them passed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import NamedTuple

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
DEFAULT_BOOTSTRAP = 10_000


class Interval(NamedTuple):
    estimate: float
    lo: float
    hi: float


class McNemar(NamedTuple):
    b: int  # baseline failed, candidate passed (fail -> pass)
    c: int  # baseline passed, candidate failed (pass -> fail)
    p_value: float


class PairedDifference(NamedTuple):
    mean_diff: float  # candidate minus baseline
    lo: float
    hi: float
    p_value: float


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n samples per problem, got n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)  # exact big-int division, no overflow


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k averaged over problems."""
    return math.fsum(_per_problem(counts, k)) / len(counts)


def _per_problem(counts: Sequence[tuple[int, int]], k: int) -> list[float]:
    if not counts:
        raise ValueError("no problems")
    return [pass_at_k(n, c, k) for n, c in counts]


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Interval:
    """Wilson score interval for a binomial proportion."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    center = (p + z2 / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / trials + z2 / (4 * trials * trials))
    # clamp: rounding may put a bound a hair past the estimate at c = 0 or c = n
    return Interval(p, max(0.0, min(p, center - half)), min(1.0, max(p, center + half)))


def bootstrap_mean_ci(
    values: Sequence[float], *, confidence: float = 0.95, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> Interval:
    """Percentile bootstrap CI of the mean, resampling the values (problems) with replacement."""
    if not values:
        raise ValueError("no values")
    means = _bootstrap_means(values, n_boot, seed)
    lo, hi = _percentiles(means, confidence)
    return Interval(math.fsum(values) / len(values), lo, hi)


def pass_at_k_ci(
    counts: Sequence[tuple[int, int]],
    k: int = 1,
    *,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Interval:
    """(estimate, lo, hi) for mean pass@k. One sample per problem and k=1: Wilson score interval
    (the problems are Bernoulli trials); otherwise a seeded bootstrap over problems."""
    values = _per_problem(counts, k)
    if k == 1 and all(n == 1 for n, _ in counts):
        z = _normal_quantile(0.5 + confidence / 2)
        return wilson_interval(sum(c for _, c in counts), len(counts), z)
    return bootstrap_mean_ci(values, confidence=confidence, n_boot=n_boot, seed=seed)


def pass_at_1_ci(counts: Sequence[tuple[int, int]], **kwargs) -> Interval:
    return pass_at_k_ci(counts, 1, **kwargs)


def mcnemar_exact(baseline: Sequence[bool], candidate: Sequence[bool]) -> McNemar:
    """Exact McNemar test on paired pass/fail outcomes of two methods on the same problems."""
    if len(baseline) != len(candidate):
        raise ValueError(f"unpaired outcomes: {len(baseline)} vs {len(candidate)} problems")
    b = sum(1 for x, y in zip(baseline, candidate, strict=True) if not x and y)
    c = sum(1 for x, y in zip(baseline, candidate, strict=True) if x and not y)
    return McNemar(b, c, binomial_two_sided_half(b, b + c))


def binomial_two_sided_half(k: int, n: int) -> float:
    """Two-sided exact binomial test p-value for k successes in n trials with p = 1/2."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1))
    return min(1.0, 2 * tail / 2**n)


def mcnemar_difference_ci(b: int, c: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Exact CI of (b - c) / n conditional on the b + c discordant problems (Clopper-Pearson on b).

    It excludes 0 exactly when the exact McNemar test rejects at 1 - confidence, so the CI and the
    p-value never tell different stories. None without discordant problems.
    """
    m = b + c
    if m == 0:
        return None
    lo, hi = clopper_pearson(b, m, confidence)
    return (2 * lo - 1) * m / n, (2 * hi - 1) * m / n


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval of a binomial proportion k / n."""
    tail = (1 - confidence) / 2
    lo = 0.0 if k == 0 else _bisect(lambda p: binom_tail_ge(k, n, p) < tail)
    hi = 1.0 if k == n else _bisect(lambda p: binom_tail_ge(k + 1, n, p) <= 1 - tail)
    return lo, hi


def binom_tail_ge(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), in log space so large n cannot overflow."""
    if p <= 0.0:
        return 1.0 if k <= 0 else 0.0
    if p >= 1.0:
        return 1.0 if k <= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.exp(_log_comb(n, i) + i * lp + (n - i) * lq) for i in range(max(k, 0), n + 1)]
    return min(1.0, math.fsum(terms))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _bisect(below: Callable[[float], bool]) -> float:
    """The p in [0, 1] where the monotone predicate `below(p)` turns from True to False."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if below(mid) else (lo, mid)
    return (lo + hi) / 2


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (family-wise error rate control).

    The i-th smallest of m p-values is multiplied by m - i + 1, a running maximum keeps the order,
    and 1 caps it: a test is rejected at family-wise level alpha when its adjusted value is below
    alpha. Valid whatever the dependence between the tests.
    """
    if any(not 0.0 <= p <= 1.0 for p in p_values):
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)}")
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def paired_bootstrap(
    baseline: Sequence[tuple[int, int]],
    candidate: Sequence[tuple[int, int]],
    k: int = 1,
    *,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> PairedDifference:
    """Paired bootstrap over problems of the pass@k difference (candidate - baseline).

    The p-value tests "no difference" with the null-centred bootstrap distribution:
    P(|mean* - mean| >= |mean|), with the usual +1 correction.
    """
    if len(baseline) != len(candidate):
        raise ValueError(f"unpaired problems: {len(baseline)} vs {len(candidate)}")
    diffs = [y - x for x, y in zip(_per_problem(baseline, k), _per_problem(candidate, k), strict=True)]
    mean = math.fsum(diffs) / len(diffs)
    means = _bootstrap_means(diffs, n_boot, seed)
    lo, hi = _percentiles(means, confidence)
    tol = 1e-12 * max(1.0, abs(mean))
    extreme = sum(1 for m in means if abs(m - mean) >= abs(mean) - tol)
    return PairedDifference(mean, lo, hi, min(1.0, (extreme + 1) / (n_boot + 1)))


def _bootstrap_means(values: Sequence[float], n_boot: int, seed: int) -> list[float]:
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    rng = random.Random(seed)
    size = len(values)
    return sorted(math.fsum(rng.choices(values, k=size)) / size for _ in range(n_boot))


def _percentiles(sorted_values: list[float], confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    alpha = (1 - confidence) / 2
    return _quantile(sorted_values, alpha), _quantile(sorted_values, 1 - alpha)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (bisection on erf; exact to ~1e-12, no scipy needed)."""
    if not 0 < p < 1:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    if abs(p - 0.975) < 1e-15:
        return Z_95
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
