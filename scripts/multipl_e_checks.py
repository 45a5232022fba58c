"""How well a MultiPL-E prompt's example checks (the `branch` method's judge) agree with its hidden tests.

    python scripts/multipl_e_checks.py [--failing N] [LANG...]     (default: MultiPL-E's 12 languages)

MultiPL-E has no reference solutions, so the committed greedy programs stand in for them
(results/qwen2.5-coder-0.5b/multipl-e-<lang>/greedy): every program that passes its hidden tests
should pass its checks (a disagreement is an example that contradicts the tests, or a frame bug),
and the checks should fail most programs that fail their tests (the rest pass every example and
fail elsewhere). Runs the checks in the sandbox; prints one row per language and each disagreement.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from uscd.prompts.examples import extract_checks
from uscd.prompts.examples_multipl_e import LANGUAGES
from uscd.run.folder import task_of_run
from uscd.runs import RunFolder
from uscd.search.checks import run_checks

ROOT = Path(__file__).resolve().parents[1]


def agreement(language: str, failing: int) -> tuple[dict[str, int], list[str]]:
    run = RunFolder(ROOT / f"results/qwen2.5-coder-0.5b/multipl-e-{language}/greedy")
    problems = {p.task_id: p for p in task_of_run(run.read_config()).problems()}
    passed = {r["task_id"]: r["status"] == "pass" for r in run.results()}
    counts = {"no checks": 0, "pass, checks pass": 0, "pass, checks fail": 0, "fail, checks fail": 0,
              "fail, checks pass": 0}  # fmt: skip
    notes, failing_left = [], failing
    for sample in sorted(run.samples(), key=lambda s: s["task_id"]):
        problem = problems[sample["task_id"]]
        checks = extract_checks(problem.prompt, language).checks
        if not checks:
            counts["no checks"] += 1
            continue
        if not passed[sample["task_id"]]:
            if failing_left == 0:
                continue
            failing_left -= 1
        verdict = run_checks(problem.solution(sample["completion"]), checks)
        tests = "pass" if passed[sample["task_id"]] else "fail"
        counts[f"{tests}, checks {'pass' if verdict.all_passed else 'fail'}"] += 1
        if tests == "pass" and not verdict.all_passed:
            notes.append(
                f"{language} {sample['task_id']}: passes its tests, fails its checks ({verdict.reason[:120]})"
            )
    return counts, notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("languages", nargs="*", default=list(LANGUAGES))
    ap.add_argument("--failing", type=int, default=20, help="failing programs checked per language")
    args = ap.parse_args()
    header = None
    for language in args.languages:
        counts, notes = agreement(language, args.failing)
        if header is None:
            header = list(counts)
            print("| language | " + " | ".join(header) + " |")
            print("|---" * (len(header) + 1) + "|")
        print(f"| {language} | " + " | ".join(str(counts[k]) for k in header) + " |", flush=True)
        for note in notes:
            print("  " + note, flush=True)


if __name__ == "__main__":
    main()
