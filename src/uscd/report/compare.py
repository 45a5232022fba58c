"""Paired comparisons of each method with the baseline run of its task/model group."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from uscd.metrics import mcnemar_difference_ci, mcnemar_exact, paired_bootstrap
from uscd.report.data import ALPHA, BOOTSTRAP_SEED, EXTRA_OUTCOMES, Group, Run, r6
from uscd.report.loader import natural_key
from uscd.report.text import fmt_p

Counts = list[tuple[int, int]]


def comparisons(group: Group, baseline: str) -> list[dict]:
    baselines = [r for r in group.runs if r.label == baseline]
    out = []
    for cand in group.runs:
        if cand.label == baseline:
            continue
        base, why = pick_baseline(cand, baselines)
        if base is None:
            out.append({"method": cand.name, "baseline": None, "paired": False, "reason": why})
        else:
            out.append(compare(base, cand))
    return out


def pick_baseline(candidate: Run, baselines: list[Run]) -> tuple[Run | None, str]:
    """The baseline run to pair with: compatible, and from the same eval folder where several fit."""
    if not baselines:
        return None, "no baseline run in this task/model group"
    reasons = [incompatibility(b, candidate) for b in baselines]
    fitting = [b for b, why in zip(baselines, reasons, strict=True) if why is None]
    if not fitting:
        return None, reasons[0] or ""
    if len(fitting) > 1:
        siblings = [b for b in fitting if b.folder.path.parent == candidate.folder.path.parent]
        if len(siblings) != 1:
            return None, f"{len(fitting)} baseline runs fit ({', '.join(b.path for b in fitting)}); pass one"
        fitting = siblings
    return fitting[0], ""


def incompatibility(base: Run, cand: Run) -> str | None:
    """Why two runs of one group cannot be paired, or None."""
    if base.dataset_sha != cand.dataset_sha:
        return f"different datasets (sha256 {str(base.dataset_sha)[:12]} vs {str(cand.dataset_sha)[:12]})"
    if base.n_samples != cand.n_samples:
        return f"different samples per problem ({base.n_samples} vs {cand.n_samples})"
    return None


def compare(base: Run, cand: Run) -> dict:
    shared = sorted(set(base.counts) & set(cand.counts), key=natural_key)
    out: dict[str, Any] = {
        "method": cand.name,
        "baseline": base.name,
        "problems_baseline": len(base.counts),
        "problems_candidate": len(cand.counts),
        "problems_paired": len(shared),
    }
    if not shared:
        return out | {"paired": False, "reason": "no problem was executed by both runs"}
    b_counts = [base.counts[t] for t in shared]
    c_counts = [cand.counts[t] for t in shared]
    single = all(n == 1 for n, _ in b_counts + c_counts)
    out |= {"paired": True, "reason": ""} | paired_test(shared, b_counts, c_counts)
    if all(n >= 10 for n, _ in b_counts + c_counts):
        out["pass@10"] = pass_at_10_part(b_counts, c_counts)
    out["changed_completions"] = changed_completions(base, cand, shared) if single else None
    out["verdict"] = verdict(out["difference"], out["p_value"], base.name)
    return out | outcome_comparisons(base, cand)


def paired_test(shared: list[str], b_counts: Counts, c_counts: Counts) -> dict:
    """The test, the difference and its CI, the pass rates and the flipped problems of one pairing."""
    single = all(n == 1 for n, _ in b_counts + c_counts)
    out = mcnemar_part(b_counts, c_counts) if single else bootstrap_part(b_counts, c_counts)
    out["baseline_pass@1"] = r6(sum(c / n for n, c in b_counts) / len(shared))
    out["candidate_pass@1"] = r6(sum(c / n for n, c in c_counts) / len(shared))
    out["fail_to_pass"], out["pass_to_fail"] = flips(shared, b_counts, c_counts)
    out["outcomes_sha256"] = outcomes_digest(shared, b_counts, c_counts)
    return out


def outcomes_digest(shared: list[str], b_counts: Counts, c_counts: Counts) -> str:
    """What a paired test was computed from (per problem: both runs' samples and passes): two tests
    of one method with the same digest are the same test (e.g. HumanEval and HumanEval+'s base tests)."""
    rows = [[t, *b, *c] for t, b, c in zip(shared, b_counts, c_counts, strict=True)]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def outcome_comparisons(base: Run, cand: Run) -> dict[str, dict]:
    """The paired test by each extra outcome (base, plus tests) that both runs carry."""
    out = {}
    for name in (n for n in EXTRA_OUTCOMES if n in base.extra_counts and n in cand.extra_counts):
        b, c = base.extra_counts[name], cand.extra_counts[name]
        out[name] = compare_outcome(b, c, base.name)
        # the base tests are often what `status` scored: the same test twice is one test to correct for
        out[name]["repeats_main_test"] = (b, c) == (base.counts, cand.counts)
    return out


def compare_outcome(
    base: dict[str, tuple[int, int]], cand: dict[str, tuple[int, int]], baseline: str
) -> dict:
    """The same paired test by another outcome of the same runs (HumanEval+/MBPP+ base or plus tests)."""
    shared = sorted(set(base) & set(cand), key=natural_key)
    if not shared:
        return {"paired": False, "problems_paired": 0, "reason": "no problem was scored by both runs"}
    out = {"paired": True, "problems_paired": len(shared)}
    out |= paired_test(shared, [base[t] for t in shared], [cand[t] for t in shared])
    out["verdict"] = verdict(out["difference"], out["p_value"], baseline)
    return out


def changed_completions(base: Run, cand: Run, task_ids: list[str]) -> int:
    """Paired problems whose (single) completion differs from the baseline's: where a method acted."""
    b = {s["task_id"]: s["completion"] for s in base.samples if int(s["sample_idx"]) == 0}
    c = {s["task_id"]: s["completion"] for s in cand.samples if int(s["sample_idx"]) == 0}
    return sum(b.get(t) != c.get(t) for t in task_ids)


def mcnemar_part(b_counts: Counts, c_counts: Counts) -> dict:
    test = mcnemar_exact([c > 0 for _, c in b_counts], [c > 0 for _, c in c_counts])
    ci = mcnemar_difference_ci(test.b, test.c, len(b_counts))
    return {
        "test": "mcnemar-exact",
        "fail_to_pass_count": test.b,
        "pass_to_fail_count": test.c,
        "difference": r6((test.b - test.c) / len(b_counts)),
        "difference_ci95": None if ci is None else [r6(ci[0]), r6(ci[1])],
        "p_value": r6(test.p_value),
    }


def bootstrap_part(b_counts: Counts, c_counts: Counts) -> dict:
    diff = paired_bootstrap(b_counts, c_counts, 1, seed=BOOTSTRAP_SEED)
    return {
        "test": "paired-bootstrap",
        "bootstrap_seed": BOOTSTRAP_SEED,
        "difference": r6(diff.mean_diff),
        "difference_ci95": [r6(diff.lo), r6(diff.hi)],
        "p_value": r6(diff.p_value),
    }


def pass_at_10_part(b_counts: Counts, c_counts: Counts) -> dict:
    """The paired pass@10 difference (unbiased estimator per problem), by the same bootstrap."""
    diff = paired_bootstrap(b_counts, c_counts, 10, seed=BOOTSTRAP_SEED)
    return {
        "test": "paired-bootstrap",
        "difference": r6(diff.mean_diff),
        "difference_ci95": [r6(diff.lo), r6(diff.hi)],
        "p_value": r6(diff.p_value),
    }


def flips(ids: list[str], b_counts: Counts, c_counts: Counts) -> tuple[list[str], list[str]]:
    """Problems whose pass rate went up / down (with one sample: fail->pass / pass->fail)."""
    up = [t for t, (bn, bc), (cn, cc) in zip(ids, b_counts, c_counts, strict=True) if cc * bn > bc * cn]
    down = [t for t, (bn, bc), (cn, cc) in zip(ids, b_counts, c_counts, strict=True) if cc * bn < bc * cn]
    return up, down


def verdict(diff: float, p: float, baseline: str) -> str:
    if p < ALPHA:
        return f"significantly {'better' if diff > 0 else 'worse'} than {baseline} ({fmt_p(p)})"
    text = f"no significant difference from {baseline} ({fmt_p(p)})"
    if diff < 0:
        text += f"; pass@1 is {-diff * 100:.1f} points lower"
    elif diff > 0:
        text += f"; pass@1 is {diff * 100:.1f} points higher, which may be chance"
    return text
