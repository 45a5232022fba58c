#!/usr/bin/env python
"""X1: sandboxed execution of one method's MultiPL-E samples (161 per language), per language.

Runs every greedy sample of each language's run folder through `run_many` (default workers = cores,
default 10 s limit, as `uscd evaluate`) and reports the wall time per language and in total; the
target is all 12 required languages in under 10 minutes. For C++ it also times the same programs
without the precompiled <bits/stdc++.h> (the ratio of the two runs in this script). No model is
loaded: no lock needed, but other CPU work on the machine slows every figure.

    python benchmarks/x1_multipl_e_exec.py --root results/qwen2.5-coder-0.5b [--languages cpp,java]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path

import _common

REQUIRED = ("cpp", "go", "java", "js", "lua", "php", "pl", "r", "rb", "rs", "sh", "ts")
OTHERS = ("cs", "d", "rkt", "scala")


def programs_of(run_dir: Path) -> tuple[str, list[tuple[str, str]]]:
    from uscd.runs import RunFolder
    from uscd.tasks import get_task

    folder = RunFolder(run_dir)
    config = folder.read_config()
    options = {k: v for k, v in config["task"]["options"].items() if v}
    task = get_task(config["task"]["name"], **options)
    by_id = {p.task_id: p for p in task.problems()}
    items = [(s["task_id"], by_id[s["task_id"]].program(s["completion"])) for s in folder.samples()]
    return task.lang_key, items


def hand_written(language: str, count: int = 161) -> list[tuple[int, str]]:
    """Stand-ins where no model samples exist: HumanEval_53_add with a passing and a failing
    completion, alternating (tests/multipl_e_cases.py). Compile + run cost like a real program's,
    minus the variety: the figure says which languages were timed this way."""
    sys.path.insert(0, str(_common.ROOT / "tests"))
    from multipl_e_cases import CASES, PROBLEM
    from uscd.tasks import get_task

    problem = get_task(f"multipl-e-{language}").problem(PROBLEM)
    kinds = ("good", "wrong")
    return [(i, problem.program(CASES[language][kinds[i % 2]])) for i in range(count)]


def timed(items, language, workers: int | None) -> tuple[float, Counter]:
    from uscd.execution import Limits, run_many

    start = time.perf_counter()
    results = run_many(items, workers=workers, limits=Limits(), language=language)
    statuses = Counter(r.status for _, r in results)
    return time.perf_counter() - start, statuses


def without_pch(language: str):
    from uscd.execution import languages

    return dataclasses.replace(languages.require(language), compile_extra=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=_common.ROOT / "results" / "qwen2.5-coder-0.5b")
    parser.add_argument("--languages", default=",".join(REQUIRED + OTHERS))
    parser.add_argument("--method", default="greedy")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--no-pch-ratio", action="store_true", help="skip the C++ run without the PCH")
    parser.add_argument("--stand-ins", action="store_true", help="hand-written programs where no samples")
    args = parser.parse_args()
    rows, total, timed_required, stand_ins = [], 0.0, [], []
    for language in args.languages.split(","):
        run_dir = args.root / f"multipl-e-{language}" / args.method
        if (run_dir / "samples.jsonl").exists():
            key, items = programs_of(run_dir)
        elif args.stand_ins:
            key, items = language, hand_written(language)
            stand_ins.append(language)
        else:
            rows.append([language, "-", "-", "no samples"])
            continue
        seconds, statuses = timed(items, key, args.workers)
        total += seconds
        timed_required += [language] if language in REQUIRED else []
        rows.append([language, len(items), round(seconds, 1), dict(statuses)])
        if language == "cpp" and not args.no_pch_ratio:
            plain, _ = timed(items, without_pch("cpp"), args.workers)
            rows.append(["cpp (no PCH)", len(items), round(plain, 1), f"PCH speed-up {plain / seconds:.2f}x"])
    print(_common.table(["language", "programs", "wall s", "statuses"], rows))
    required_s = sum(r[2] for r in rows if r[0] in REQUIRED and isinstance(r[2], float))
    missing = [lang for lang in REQUIRED if lang not in timed_required]
    _common.emit(
        "X1",
        round(required_s, 1),
        target="<= 600 s for the 12 required languages",
        ok=not missing and required_s <= 600,
        all_languages_s=round(total, 1),
        required_missing=missing,
        hand_written_stand_ins=stand_ins,
    )


if __name__ == "__main__":
    main()
