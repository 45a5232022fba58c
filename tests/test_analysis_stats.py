"""The premise study's statistics (uscd.analysis.stats) on hand-computed inputs, and their parity
with reference implementations: AUROC against a brute-force pairwise count and scikit-learn, the
JS divergence against scipy and the formula of the USCD authors' follow-up code."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from uscd.analysis import stats
from uscd.errors import UscdError

# -- AUROC -----------------------------------------------------------------------------------------


def brute_force_auroc(scores, labels):
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auroc_by_hand():
    # positives 3 and 1 against negatives 2 and 0: (3>2, 3>0, 1<2, 1>0) = 3 of 4
    assert stats.auroc([3, 2, 1, 0], [True, False, True, False]) == 0.75
    assert stats.auroc([1, 1], [True, False]) == 0.5
    assert stats.auroc([0, 5], [True, False]) == 0.0
    assert stats.auroc([1, 2], [True, True]) is None
    assert stats.auroc([], []) is None


def test_midranks_share_ties():
    np.testing.assert_array_equal(stats.midranks([10, 20, 20, 5]), [2.0, 3.5, 3.5, 1.0])


@given(
    st.lists(
        st.tuples(st.integers(min_value=-5, max_value=5), st.booleans()), min_size=2, max_size=40
    ).filter(lambda rows: len({y for _, y in rows}) == 2)
)
def test_auroc_equals_the_pairwise_count(rows):
    scores = [s / 2 for s, _ in rows]  # small integers: many ties
    labels = [y for _, y in rows]
    assert stats.auroc(scores, labels) == pytest.approx(brute_force_auroc(scores, labels), abs=1e-12)


def test_auroc_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 8, size=300).astype(float)
    labels = rng.random(300) < 0.3
    assert stats.auroc(scores, labels) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)


# -- JS divergence ---------------------------------------------------------------------------------


def their_js_divergence(P, Q):
    """`EnsembleLogitsProcessor.js_divergence` of LLMcodegen/Fuzzy_contrastive_decoding
    (bigcode_eval/contrast.py), as written there, with numpy in place of torch."""
    P = P / P.sum()
    Q = Q / Q.sum()
    M = 0.5 * (P + Q)

    def kl_divergence(P, Q):
        return (P * np.log(P / Q)).sum()

    return 0.5 * kl_divergence(P, M) + 0.5 * kl_divergence(Q, M)


def test_js_by_hand():
    assert stats.js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2))
    assert stats.js_divergence([0.5, 0.5], [0.5, 0.5]) == 0.0
    # P = (1, 0), Q = (1/2, 1/2): M = (3/4, 1/4); ½·log(4/3) + ½·(½·log(2/3) + ½·log 2)
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert stats.js_divergence([1, 0], [1, 1]) == pytest.approx(expected)


@given(st.lists(st.tuples(st.floats(0.01, 10), st.floats(0.01, 10)), min_size=1, max_size=30))
def test_js_matches_the_authors_formula_and_scipy(pairs):
    p = np.array([a for a, _ in pairs])
    q = np.array([b for _, b in pairs])
    ours = stats.js_divergence(p, q)
    assert ours == pytest.approx(their_js_divergence(p, q), abs=1e-12)
    distance = pytest.importorskip("scipy.spatial.distance")
    # scipy returns the square root (NaN when rounding makes the divergence of equal inputs < 0)
    assert ours == pytest.approx(np.nan_to_num(distance.jensenshannon(p, q)) ** 2, abs=1e-9)
    assert 0.0 <= ours <= math.log(2) + 1e-12


def test_js_from_logits_is_js_of_the_softmaxes():
    a = np.array([2.0, 1.0, -np.inf, 0.0], dtype=np.float32)
    b = np.array([0.0, 0.0, 1.0, 3.0], dtype=np.float32)
    pa = np.exp([2.0, 1.0, 0.0]) / np.exp([2.0, 1.0, 0.0]).sum()
    pa = np.array([pa[0], pa[1], 0.0, pa[2]])
    pb = np.exp(b.astype(np.float64)) / np.exp(b.astype(np.float64)).sum()
    assert stats.js_from_logits(a, b) == pytest.approx(stats.js_divergence(pa, pb), abs=1e-12)
    assert stats.js_from_logits(a, a) == pytest.approx(0.0, abs=1e-12)


def test_profile_js():
    assert stats.profile_js([1, 1], [2, 2]) == 0.0
    assert stats.profile_js([0, 0], [1, 2]) is None
    assert stats.profile_js([], []) is None
    assert stats.profile_js([1, 0], [0, 1]) == pytest.approx(math.log(2))


# -- the study's parts on hand-made lines ----------------------------------------------------------

SETTINGS = {
    "k": 5,
    "m": 4,
    "alpha": 0.1,
    "measure": "std-norm",
    "contrasts": {"paper": {"rho": 0.7, "threshold": 0.8947, "measure": "std-norm"}},
}


def flip(step, rank, token, passed, alt=0, rank_all=None):
    return {
        "step": step,
        "rank": rank,
        "rank_all": rank_all or rank,
        "token": token,
        "passed": passed,
        "alt": alt,
        "tokens": 10,
        "picks": [],
    }


def line(flips, steps, status="analysed", task="T/0"):
    return {
        "task_id": task,
        "sample_idx": 0,
        "status": status,
        "settings": SETTINGS,
        "a_tokens": len(steps["token"]),
        "steps": steps,
        "flips": flips,
    }


def steps_of(tokens, std_norm, js, picks):
    return {
        "token": tokens,
        "std-norm": std_norm,
        "std": [v / 100 for v in std_norm],
        "maxprob": std_norm,
        "margin": std_norm,
        "entropy": [1 - v for v in std_norm],
        "js": js,
        "head": [[t] for t in tokens],
        "pick": {"paper": picks},
    }


@pytest.fixture
def lines():
    # problem A: 4 steps; tried steps 1 (rank 1; token 9 fixes) and 3 (rank 2; nothing fixes);
    # the contrast picks 9 at step 1 (a fix) and 7 at step 3 (an override that was not tried)
    a = line(
        [flip(1, 1, 9, True), flip(1, 1, 8, False, alt=1), flip(3, 2, 5, False)],
        steps_of([1, 2, 3, 4], [0.9, 0.4, 0.95, 0.6], [0.1, 0.5, 0.0, 0.2], [1, 9, 3, 7]),
    )
    # problem B: 3 steps; tried step 0 (rank 1; fixed by the second alternative, not the runner-up)
    b = line(
        [flip(0, 1, 6, False), flip(0, 1, 7, True, alt=1)],
        steps_of([1, 2, 3], [0.5, 0.99, 0.98], [0.3, 0.0, 0.0], [1, 2, 3]),
        task="T/1",
    )
    skipped = {"task_id": "T/2", "sample_idx": 0, "status": "not-reproduced", "settings": SETTINGS}
    return [a, b, skipped]


def test_fixable_counts(lines):
    counts = stats.fixable_counts(lines)
    assert counts["problems"] == 3
    assert counts["status"] == {"analysed": 2, "not-reproduced": 1}
    assert (counts["analysed"], counts["fixable"], counts["fixable_by_runner_up"]) == (2, 2, 1)
    assert (counts["flips"], counts["passing_flips"], counts["flip_tokens"]) == (5, 2, 50)
    assert counts["fixable_share"] == 1.0


def test_fixing_positions(lines):
    where = stats.fixing_positions(lines)
    assert where["fixing_steps"] == 2
    assert where["rank"] == {"1": 2}
    assert where["step"] == {"0": 1, "1": 1, "2-4": 0, "5-9": 0, "10-19": 0, "20+": 0}
    # relative positions 1/4 and 0/3
    assert where["relative_position_quartiles"] == [0.0625, 0.125, 0.1875]


def test_contrast_picks(lines):
    paper = stats.contrast_picks(lines)["paper"]
    assert paper["tried_steps"] == 3
    assert paper["fixing_steps"] == 2
    assert paper["pick_fixes"] == 1  # step 1 of A; at step 0 of B it keeps greedy's token
    assert paper["pick_keeps_greedy"] == 1
    assert paper["pick_fixes_gate_fires"] == 1  # std-norm 0.4 <= 0.8947
    assert paper["gate_fires"] == 2
    assert paper["overrides"] == 2 and paper["overrides_fixing"] == 1 and paper["overrides_untried"] == 1
    assert paper["pick_fixes_rate"] == 0.5


def test_measure_aurocs(lines):
    aurocs = stats.measure_aurocs(lines)
    # tried steps: A1 (fixing, std-norm 0.4), A3 (not, 0.6), B0 (fixing, 0.5): both fixing steps
    # are more uncertain (lower std-norm) than the non-fixing one
    assert aurocs["tried"]["steps"] == 3 and aurocs["tried"]["fixing"] == 2
    assert aurocs["tried"]["std-norm"] == 1.0
    assert aurocs["tried"]["entropy"] == 1.0
    # js: fixing 0.5 and 0.3 against 0.2
    assert aurocs["tried"]["js"] == 1.0
    # all 7 steps, 2 fixing: std-norm of the fixing ones 0.4, 0.5; the others 0.9, 0.95, 0.6, 0.99, 0.98
    assert aurocs["all"]["steps"] == 7 and aurocs["all"]["std-norm"] == 1.0
    assert aurocs["all"]["js"] == pytest.approx(
        brute_force_auroc([0.1, 0.5, 0.0, 0.2, 0.3, 0, 0], [0, 1, 0, 0, 1, 0, 0]), abs=1e-4
    )


def test_js_study(lines):
    js = stats.js_study(lines)
    assert js["programs"] == 2
    a = stats.profile_js([0.1, 0.6, 0.05, 0.4], [0.1, 0.5, 0.0, 0.2])
    b = stats.profile_js([0.5, 0.01, 0.02], [0.3, 0.0, 0.0])
    assert js["profile_js_mean"] == pytest.approx((a + b) / 2, abs=1e-4)
    assert js["profile_js_shuffled_mean"] is not None
    means = js["step_js_mean"]
    assert means["fixing"] == {"steps": 2, "mean": 0.4}
    assert means["tried"]["steps"] == 3
    assert means["uncertain"]["steps"] == 3  # std-norm 0.4, 0.6, 0.5 <= 0.8947


def test_summary_is_a_pure_function_of_the_lines(lines):
    assert stats.summarize(lines) == stats.summarize([dict(x) for x in lines])
    assert set(stats.summarize(lines)) == {"settings", "counts", "positions", "contrast_picks", "auroc", "js"}


def test_mixed_settings_are_refused(lines):
    other = {**lines[1], "settings": {**SETTINGS, "k": 3}}
    with pytest.raises(UscdError, match="different settings"):
        stats.summarize([lines[0], other])


def test_empty_study():
    summary = stats.summarize([])
    assert summary["counts"]["analysed"] == 0
    assert summary["auroc"]["tried"]["std-norm"] is None
    assert summary["js"]["profile_js_mean"] is None


def test_profile_js_of_related_profiles_lies_below_the_shuffled_baseline():
    std_norm = [0.99, 0.4, 0.98, 0.97, 0.6, 0.99, 0.95, 0.99]
    noise = [round(1 - v, 6) for v in std_norm]  # noise exactly where the uncertainty is
    related = line([], steps_of(list(range(8)), std_norm, noise, list(range(8))))
    js = stats.js_study([related])
    assert js["profile_js_mean"] == 0.0
    assert js["profile_js_shuffled_mean"] > 0.1
    assert stats.js_study([related]) == js  # seeded: the summary is a function of the lines
