"""A run's programs against their prompts' own example checks (no model; sandbox only).

    python scripts/greedy_vs_examples.py RUN_FOLDER [RUN_FOLDER...]

For each folder (samples.jsonl + results.jsonl of `uscd eval`, first sample per problem): how many
programs pass the hidden tests and/or every check extracted from their prompt — what the branch
method would do with them (docs/branch.md): a program that passes its checks stops the search at A;
one that passes the hidden tests but fails a check sends the search away from a correct program.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from uscd.prompts.examples import extract_checks
from uscd.runs import read_jsonl
from uscd.search.checks import run_checks_many


def table(folder: Path) -> tuple[Counter, dict[tuple[bool, bool], list[str]], list[str]]:
    samples = {s["task_id"]: s for s in read_jsonl(folder / "samples.jsonl") if int(s["sample_idx"]) == 0}
    hidden = {r["task_id"]: r["status"] == "pass" for r in read_jsonl(folder / "results.jsonl")}
    items, without = [], []
    for task_id, s in samples.items():
        prompt = s["solution"][: len(s["solution"]) - len(s["completion"])]
        checks = extract_checks(prompt).checks
        if checks:
            items.append((task_id, s["solution"], checks))
        else:
            without.append(task_id)
    counts: Counter = Counter()
    ids: dict[tuple[bool, bool], list[str]] = {}
    for task_id, run in run_checks_many(items):
        cell = (hidden[task_id], run.all_passed)
        counts[cell] += 1
        ids.setdefault(cell, []).append(str(task_id))
    return counts, ids, without


def main(folders: list[str]) -> int:
    cells = ("hidden ✓ checks ✓", "hidden ✓ checks ✗", "hidden ✗ checks ✓", "hidden ✗ checks ✗")
    print("| run | programs | no checks | " + " | ".join(cells) + " |")
    print("|---|---|---|---|---|---|---|")
    notes = []
    for name in folders:
        counts, ids, without = table(Path(name))
        total = sum(counts.values()) + len(without)
        cells = [counts[(True, True)], counts[(True, False)], counts[(False, True)], counts[(False, False)]]
        print(f"| {name} | {total} | {len(without)} | " + " | ".join(map(str, cells)) + " |")
        notes.append(f"{name}: hidden ✓ checks ✗: {sorted(ids.get((True, False), []))}")
        notes.append(f"{name}: hidden ✗ checks ✓: {sorted(ids.get((False, True), []))}")
    print("\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
