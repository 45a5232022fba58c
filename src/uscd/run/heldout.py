"""Score a run folder's samples on the held-out tests (uscd.tasks.heldout) in the sandbox.

Writes `heldout_results.jsonl` and `heldout_summary.json` beside the run's own files (each written
whole to a temporary name, then renamed: never half-written); the run's own records are untouched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from uscd.execution import Limits, run_many
from uscd.metrics import mcnemar_exact, pass_at_1_ci
from uscd.runs import read_jsonl
from uscd.summary import per_problem_counts, unique
from uscd.tasks import Problem
from uscd.tasks.heldout import held_out_problem

RESULTS, SUMMARY = "heldout_results.jsonl", "heldout_summary.json"


def held_out_problems(problems: list[Problem]) -> dict[str, Problem]:
    """task_id -> the problem with only its held-out tests (problems without any are left out)."""
    return {p.task_id: h for p in problems if (h := held_out_problem(p)) is not None}


def score_folder(
    folder: Path, held: dict[str, Problem], *, timeout_s: float = 10.0, level: str = "auto"
) -> dict:
    """Run every sample of `folder` whose problem has held-out tests; write and return the summary."""
    every = unique(list(read_jsonl(folder / "samples.jsonl")))
    samples = [s for s in every if s["task_id"] in held]
    items = (
        ((s["task_id"], int(s["sample_idx"])), held[s["task_id"]].suites()[0].program(s["solution"]))
        for s in samples
    )
    results = [
        {"task_id": key[0], "sample_idx": key[1], "status": res.status, "reason": res.reason}
        for key, res in run_many(
            items, limits=Limits(wall_s=timeout_s), level=level, language=_language(held)
        )
    ]
    results.sort(key=lambda r: (r["task_id"], r["sample_idx"]))
    counts = per_problem_counts(results)
    ci = pass_at_1_ci([counts[t] for t in sorted(counts)])
    summary = {
        "problems": len(counts),
        "problems_without_held_out_tests": sorted(
            {s["task_id"] for s in read_jsonl(folder / "samples.jsonl")} - set(held)
        ),
        "passed": sum(c for _, c in counts.values()),
        "pass@1_heldout": round(ci.estimate, 6),
        "pass@1_heldout_ci95": [round(ci.lo, 6), round(ci.hi, 6)],
    }
    _write(folder / RESULTS, "".join(json.dumps(r) + "\n" for r in results))
    _write(folder / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return summary


def _language(held: dict[str, Problem]) -> str:
    languages = {p.language for p in held.values()} or {"python"}
    if len(languages) > 1:
        raise ValueError(f"held-out problems of several languages: {sorted(languages)}")
    return languages.pop()


def paired(baseline: Path, candidate: Path, results: str = RESULTS) -> dict:
    """Exact McNemar on the outcomes of two scored folders (first sample of each problem), held-out
    by default, or in another results file of theirs (`results.jsonl`: the full tests)."""
    first = [outcomes(baseline, results), outcomes(candidate, results)]
    common = sorted(set(first[0]) & set(first[1]))
    test = mcnemar_exact([first[0][t] for t in common], [first[1][t] for t in common])
    return {"problems": len(common), "fail_to_pass": test.b, "pass_to_fail": test.c, "p_value": test.p_value}


def outcomes(folder: Path, results: str = RESULTS) -> dict[str, bool]:
    """Pass/fail of each problem's first sample in a scored folder's results file."""
    out: dict[str, bool] = {}
    for r in read_jsonl(folder / results):
        if int(r["sample_idx"]) == 0:
            out[r["task_id"]] = r["status"] == "pass"
    return out


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
