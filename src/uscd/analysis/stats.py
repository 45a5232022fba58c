"""The premise study's statistics: pure functions of the oracle's lines (uscd.analysis.oracle).

Definitions (docs/premise.md states the same):

- *tried step*: one of the K most uncertain steps of a failing greedy program A (by the gate's
  measure, among the steps whose V_head holds another token) where the oracle forced tokens.
- *fixing step*: a tried step where forcing at least one other V_head token and continuing
  greedily gives a program that passes the task's full tests. A *fixing token* is such a token.
- *fixable problem*: a problem with at least one fixing step.
- *uncertainty rank*: `rank` is the step's place among the usable steps of A (1 = the most
  uncertain one with an alternative, the order `most_uncertain` branches in); `rank_all` is its
  place among all of A's steps.
- *AUROC of a measure*: the probability that a random fixing step is scored as more uncertain than
  a random non-fixing step, ties counted one half (Mann–Whitney U / (n_pos · n_neg)); uncertain =
  low std, std-norm, maxprob, margin; high entropy; high JS (below). Population `tried`: the tried
  steps (their label is known); population `all`: every step of A, untried steps counted as
  non-fixing (biased towards the selecting measure, std-norm: it chose the tried steps).
- *JS divergence* of two non-negative vectors P, Q: both normalised to sum 1, M = (P + Q)/2,
  JS = ½ KL(P‖M) + ½ KL(Q‖M), natural log (0 · log 0 = 0), in [0, ln 2] — the formula of the
  authors' follow-up code (`js_divergence` in LLMcodegen/Fuzzy_contrastive_decoding).
- *step JS*: JS(p_std, p_lame) over the vocabulary at one step of A: the "output noise" the lame
  prompt induces there.
- *profile JS* of a program (the paper's ≈0.25, as reconstructed in shared/docs/official-code-audit.md
  §5): JS between the program's uncertainty profile u_i = 1 − std-norm_i and its noise profile
  n_i = step JS_i, each taken as a distribution over the positions i of A. The study reports its
  mean over programs next to the same statistic with each program's noise profile shuffled over
  its positions (the mean of 20 permutations per program, seed 0): the value the statistic takes
  when noise and uncertainty are unrelated.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from uscd.errors import UscdError
from uscd.methods.gate import Gate

# +1: a higher value means more uncertain (or noisier); -1: a lower value does
DIRECTION = {"std": -1, "std-norm": -1, "maxprob": -1, "margin": -1, "entropy": 1, "js": 1}
DETECTORS = ("std-norm", "entropy", "margin", "maxprob", "std", "js")
STEP_BINS = ((0, 0), (1, 1), (2, 4), (5, 9), (10, 19), (20, None))


# -- rank statistics -------------------------------------------------------------------------------


def midranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks of `values`, ties sharing the mean of the ranks they span."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    cuts = np.flatnonzero(np.diff(sorted_x)) + 1
    ranks = np.empty(x.size, dtype=np.float64)
    for start, end in zip(np.r_[0, cuts], np.r_[cuts, x.size], strict=True):
        ranks[order[start:end]] = (start + 1 + end) / 2.0
    return ranks


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(score of a positive > score of a negative) + ½ P(equal); None without both classes."""
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    u = float(midranks(scores)[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


# -- JS divergence ---------------------------------------------------------------------------------


def js_divergence(p: Sequence[float], q: Sequence[float]) -> float:
    """½ KL(P‖M) + ½ KL(Q‖M), M = (P+Q)/2, natural log, after normalising P and Q to sum 1."""
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    a, b = a / a.sum(), b / b.sum()
    m = 0.5 * (a + b)
    return max(0.5 * _kl(a, m) + 0.5 * _kl(b, m), 0.0)


def _kl(a: np.ndarray, m: np.ndarray) -> float:
    live = a > 0  # 0·log 0 = 0; m > 0 wherever a > 0
    return float(np.dot(a[live], np.log(a[live] / m[live])))


def js_from_logits(std_logits: np.ndarray, lame_logits: np.ndarray) -> float:
    """Step JS: JS(softmax(std), softmax(lame)) over the vocabulary (-inf logits: probability 0)."""
    return js_divergence(_softmax64(std_logits), _softmax64(lame_logits))


def _softmax64(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - x[np.isfinite(x)].max())
    return e / e.sum()


def profile_js(uncertainty: Sequence[float], noise: Sequence[float]) -> float | None:
    """JS between two per-position profiles of one program; None when either has no mass."""
    u, n = np.asarray(uncertainty, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    if u.size == 0 or u.sum() <= 0 or n.sum() <= 0:
        return None
    return js_divergence(u, n)


# -- reading the oracle's lines --------------------------------------------------------------------


def analysed(lines: Iterable[dict]) -> list[dict]:
    return [line for line in lines if line.get("status") == "analysed"]


def tried_steps(line: dict) -> list[dict]:
    """The tried steps of one analysed line: step, ranks, tokens tried, fixing tokens."""
    by_step: dict[int, dict] = {}
    for flip in line["flips"]:
        entry = by_step.setdefault(
            flip["step"],
            {
                "step": flip["step"],
                "rank": flip["rank"],
                "rank_all": flip["rank_all"],
                "tried": [],
                "fixing": [],
            },
        )
        entry["tried"].append(flip["token"])
        if flip["passed"]:
            entry["fixing"].append(flip["token"])
    return sorted(by_step.values(), key=lambda e: e["rank"])


def step_bin(step: int) -> str:
    for lo, hi in STEP_BINS:
        if step >= lo and (hi is None or step <= hi):
            return f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")
    raise ValueError(step)


# -- the study's parts -----------------------------------------------------------------------------


def fixable_counts(lines: list[dict]) -> dict:
    """How many failing problems one flip fixes (and by the runner-up alone)."""
    done = analysed(lines)
    fixed = [line for line in done if any(f["passed"] for f in line["flips"])]
    runner_up = [line for line in done if any(f["passed"] and f["alt"] == 0 for f in line["flips"])]
    flips = [f for line in done for f in line["flips"]]
    return {
        "problems": len(lines),
        "status": dict(sorted(Counter(line["status"] for line in lines).items())),
        "analysed": len(done),
        "fixable": len(fixed),
        "fixable_by_runner_up": len(runner_up),
        "fixable_share": _share(len(fixed), len(done)),
        "flips": len(flips),
        "passing_flips": sum(f["passed"] for f in flips),
        "flip_tokens": sum(f["tokens"] for f in flips),
    }


def fixing_positions(lines: list[dict]) -> dict:
    """Where the fixing steps sit: uncertainty rank histograms, step index bins, relative position."""
    fixing = [(line, s) for line in analysed(lines) for s in tried_steps(line) if s["fixing"]]
    relative = [s["step"] / max(line["a_tokens"], 1) for line, s in fixing]
    return {
        "fixing_steps": len(fixing),
        "rank": _histogram(s["rank"] for _, s in fixing),
        "rank_all": _histogram(s["rank_all"] for _, s in fixing),
        "step": _histogram(
            (step_bin(s["step"]) for _, s in fixing), order=[step_bin(lo) for lo, _ in STEP_BINS]
        ),
        "relative_position_quartiles": _quartiles(relative),
        "first_fixing_rank_per_problem": _histogram(
            min(s["rank"] for s in tried_steps(line) if s["fixing"])
            for line in analysed(lines)
            if any(s["fixing"] for s in tried_steps(line))
        ),
    }


def contrast_picks(lines: list[dict]) -> dict:
    """Per USCD setting: at fixing steps, is the contrast's pick a fixing token (and does the gate fire)?"""
    done = analysed(lines)
    settings = _settings(done)
    return {name: _picks_for(done, name, knobs) for name, knobs in settings.get("contrasts", {}).items()}


def _picks_for(done: list[dict], name: str, knobs: dict) -> dict:
    gate = Gate(knobs.get("measure", "std-norm"), knobs["threshold"])
    out = Counter()
    for line in done:
        steps = line["steps"]
        for s in tried_steps(line):
            pick, greedy = steps["pick"][name][s["step"]], steps["token"][s["step"]]
            fires = gate.is_uncertain(steps[gate.measure][s["step"]])
            out["tried_steps"] += 1
            out["overrides"] += pick != greedy
            out["overrides_fixing"] += pick in s["fixing"]
            out["overrides_untried"] += pick != greedy and pick not in s["tried"]
            if s["fixing"]:
                out["fixing_steps"] += 1
                out["pick_fixes"] += pick in s["fixing"]
                out["pick_fixes_gate_fires"] += fires and pick in s["fixing"]
                out["pick_keeps_greedy"] += pick == greedy
                out["gate_fires"] += fires
    result = {"rho": knobs["rho"], "threshold": knobs["threshold"], **dict(out)}
    result["pick_fixes_rate"] = _share(out["pick_fixes"], out["fixing_steps"])
    return result


def measure_aurocs(lines: list[dict]) -> dict:
    """AUROC of each measure for "this step is a fixing step", on the tried steps and on all steps."""
    tried: dict[str, list] = {m: [] for m in DETECTORS}
    every: dict[str, list] = {m: [] for m in DETECTORS}
    labels_tried: list[bool] = []
    labels_all: list[bool] = []
    for line in analysed(lines):
        steps, info = line["steps"], {s["step"]: bool(s["fixing"]) for s in tried_steps(line)}
        labels_tried += list(info.values())
        labels_all += [info.get(i, False) for i in range(len(steps["token"]))]
        for m in DETECTORS:
            column = [_signed(m, v) for v in steps[m]]
            tried[m] += [column[i] for i in info]
            every[m] += column
    return {
        "tried": {"steps": len(labels_tried), "fixing": sum(labels_tried), **_aurocs(tried, labels_tried)},
        "all": {"steps": len(labels_all), "fixing": sum(labels_all), **_aurocs(every, labels_all)},
    }


def _aurocs(columns: dict[str, list], labels: list[bool]) -> dict:
    return {m: _round(auroc(values, labels)) for m, values in columns.items()}


def _signed(measure: str, value: float) -> float:
    return DIRECTION[measure] * float(value)


def js_study(lines: list[dict], seed: int = 0, shuffles: int = 20) -> dict:
    """The paper's JS study (profile JS, with its shuffled baseline) and the step JS by kind of step."""
    done = analysed(lines)
    rng = np.random.default_rng(seed)
    observed, shuffled = [], []
    for line in done:
        u = [1.0 - v for v in line["steps"]["std-norm"]]
        n = np.asarray(line["steps"]["js"], dtype=np.float64)
        value = profile_js(u, n)
        if value is not None:
            observed.append(value)
            shuffled.append(float(np.mean([profile_js(u, rng.permutation(n)) for _ in range(shuffles)])))
    return {
        "programs": len(observed),
        "profile_js_mean": _round(_mean(observed)),
        "profile_js_median": _round(float(np.median(observed)) if observed else None),
        "profile_js_shuffled_mean": _round(_mean(shuffled)),
        "step_js_mean": _step_js_means(done),
    }


def _step_js_means(done: list[dict]) -> dict:
    groups: dict[str, list[float]] = {"all": [], "tried": [], "fixing": [], "uncertain": [], "confident": []}
    gate = Gate("std-norm", _settings(done).get("contrasts", {}).get("paper", {}).get("threshold", 0.8947))
    for line in done:
        steps = line["steps"]
        groups["all"] += steps["js"]
        for value, u in zip(steps["js"], steps["std-norm"], strict=True):
            groups["uncertain" if gate.is_uncertain(u) else "confident"].append(value)
        for s in tried_steps(line):
            groups["tried"].append(steps["js"][s["step"]])
            if s["fixing"]:
                groups["fixing"].append(steps["js"][s["step"]])
    return {name: {"steps": len(v), "mean": _round(_mean(v))} for name, v in groups.items()}


def summarize(lines: list[dict]) -> dict:
    """The summary.json of a premise study: a pure function of its oracle.jsonl lines, whatever
    their order (a batched study writes them in completion order; the JS study's shuffles draw from
    one generator, so the lines are put in task order first)."""
    lines = sorted(lines, key=task_order)
    return {
        "settings": _settings(analysed(lines)),
        "counts": fixable_counts(lines),
        "positions": fixing_positions(lines),
        "contrast_picks": contrast_picks(lines),
        "auroc": measure_aurocs(lines),
        "js": js_study(lines),
    }


# -- small helpers ---------------------------------------------------------------------------------


def task_order(line: dict) -> tuple:
    """A line's place in task order: task ids compared number by number (HumanEval/9 before
    HumanEval/10), then the sample index."""
    parts = re.split(r"(\d+)", str(line["task_id"]))
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in parts), int(line.get("sample_idx", 0))


def _settings(done: list[dict]) -> dict:
    seen = {repr(line.get("settings")) for line in done}
    if len(seen) > 1:
        raise UscdError("the oracle lines were made with different settings; move the file away to redo it")
    return done[0]["settings"] if done else {}


def _histogram(values: Iterable, order: list | None = None) -> dict:
    counts = Counter(values)
    keys = order if order is not None else sorted(counts)
    return {str(k): counts.get(k, 0) for k in keys}


def _quartiles(values: list[float]) -> list[float] | None:
    if not values:
        return None
    return [round(float(q), 4) for q in np.quantile(values, [0.25, 0.5, 0.75])]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)
