"""Holm's correction across every paired test of the report, and one verdict per method.

The family is every paired test against the baseline in the report: each comparison's main test,
for HumanEval+/MBPP+ runs its base- and plus-test comparisons, and for runs scored on the held-out
tests the held-out comparison. A test whose per-problem outcomes are exactly those of an earlier
test of the same method is the same test and is counted once: a base-test part that repeats its
main test, or HumanEval's tests in one group and HumanEval+'s base tests in another. Held-out
tests join because the overview prints their Holm p beside the others and a verdict may rest on
them; leaving them out would make them the one uncorrected column. It corrects the p-values as
report.json gives them (rounded to 6 digits), so a reader can redo it.
"""

from __future__ import annotations

from dataclasses import dataclass

from uscd.metrics import holm
from uscd.report.data import ALPHA, EXTRA_OUTCOMES, HELDOUT, OUTCOME_TITLES, SUITE_OUTCOMES, group_title, r6
from uscd.report.text import fmt_p, signed_pts


@dataclass
class Test:
    label: str  # the method's label: one method, whichever task/model group it ran in
    where: str  # "humaneval · model", with the run's name and the outcome where they add to it
    result: dict  # the comparison (or its base/plus part): gets "p_holm"
    repeats: dict | None = None  # the main comparison this part repeats, if it does
    outcome: str = "pass"  # pass (the run's own tests), or base / plus / heldout


def group_tests(group: dict) -> list[Test]:
    tests = []
    labels = {r["name"]: r["label"] for r in group["runs"]}
    for comp in (c for c in group["comparisons"] if c.get("paired")):
        label = labels[comp["method"]]
        where = group_title(group["task"], group["prompt_style"], group["model"])
        if comp["method"] != label:
            where += f" ({comp['method']})"
        tests.append(Test(label, where, comp))
        for name in (n for n in EXTRA_OUTCOMES if comp.get(n, {}).get("paired")):
            part = comp[name]
            repeats = comp if part["repeats_main_test"] else None
            tests.append(Test(label, f"{where}, {OUTCOME_TITLES[name]}", part, repeats, name))
    return tests


def tests_of(groups: list[dict]) -> list[Test]:
    return [test for group in groups for test in group_tests(group)]


def mark_repeats(tests: list[Test]) -> None:
    """A test of a method whose per-problem outcomes equal an earlier one's (HumanEval's tests and
    HumanEval+'s base tests, often) is that test again: it points at the first."""
    first: dict[tuple[str, str], Test] = {}
    for test in (t for t in tests if t.repeats is None):
        key = (test.label, test.result["outcomes_sha256"])
        if key in first:
            test.repeats = first[key].result
            test.result["same_test_as"] = first[key].where
        else:
            first[key] = test


def apply_holm(groups: list[dict], baseline: str) -> dict:
    """Write `p_holm` into every paired comparison; return the family's size and the per-method verdicts."""
    tests = tests_of(groups)
    mark_repeats(tests)
    family = [t for t in tests if t.repeats is None]
    for test, p in zip(family, holm([t.result["p_value"] for t in family]), strict=True):
        test.result["p_holm"] = r6(p)
    for test in tests:
        if test.repeats is not None:
            test.result["p_holm"] = test.repeats["p_holm"]
    return {
        "holm": {
            "alpha": ALPHA,
            "tests": len(family),
            "base_plus_tests": sum(t.outcome in SUITE_OUTCOMES for t in family),
            "heldout_tests": sum(t.outcome == HELDOUT for t in family),
            "repeated_tests": len(tests) - len(family),
        },
        "method_verdicts": method_verdicts(tests, baseline),
    }


def method_verdicts(tests: list[Test], baseline: str) -> list[dict]:
    labels = list(dict.fromkeys(t.label for t in tests))  # in report order
    return [method_verdict(label, [t for t in tests if t.label == label], baseline) for label in labels]


def method_verdict(label: str, tests: list[Test], baseline: str) -> dict:
    better = [t for t in tests if significant(t.result) and t.result["difference"] > 0]
    worse = [t for t in tests if significant(t.result) and t.result["difference"] < 0]
    parts = []
    if better:
        parts.append(f"significantly better than {baseline} after Holm correction on {places(better)}")
    elif worse:
        parts.append(f"never significantly better than {baseline} after Holm correction")
    else:
        parts.append(f"never significantly better or worse than {baseline} after Holm correction")
    if worse:
        parts.append(f"significantly worse on {places(worse)}")
    return {
        "label": label,
        "tests": len(tests),
        "better": [t.where for t in better],
        "worse": [t.where for t in worse],
        "verdict": "; ".join(parts),
    }


def significant(result: dict) -> bool:
    return result["p_holm"] < ALPHA


def places(tests: list[Test]) -> str:
    return ", ".join(
        f"{t.where} ({signed_pts(t.result['difference'])}, Holm {fmt_p(t.result['p_holm'])})" for t in tests
    )
