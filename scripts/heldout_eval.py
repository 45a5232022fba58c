"""Held-out tests for fair evaluation (issue #18): the split, and pass@1 of run folders on it.

    python scripts/heldout_eval.py split [--out docs/heldout-split]
        writes humaneval.jsonl and mbpp.jsonl: per problem, the asserts kept and the leaked ones
        dropped (how the split is made: uscd.tasks.heldout; the files are committed)
    python scripts/heldout_eval.py score TASK RUN_FOLDER [RUN_FOLDER...]
        runs each folder's samples on the held-out tests in the sandbox (TASK: humaneval, mbpp or
        multipl-e-<lang> for MultiPL-E's 12 languages: uscd.tasks.heldout_multipl_e),
        writes heldout_results.jsonl / heldout_summary.json in the folder, prints a table with the
        folder's full pass@1 beside; with two or more folders, McNemar of each against the first.

Data: ../shared/data (HUMANEVAL_DATA / MBPP_DATA override it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from uscd.errors import UscdError
from uscd.run.heldout import held_out_problems, paired, score_folder
from uscd.tasks import get_task
from uscd.tasks.heldout import held_out

ROOT = Path(__file__).resolve().parents[1]
DATA = {
    "humaneval": os.environ.get(
        "HUMANEVAL_DATA", str(ROOT.parent / "shared/data/humaneval/HumanEval.jsonl.gz")
    ),
    "mbpp": os.environ.get("MBPP_DATA", str(ROOT.parent / "shared/data/mbpp/mbpp.jsonl")),
}


def problems(task: str):
    if task.startswith("multipl-e-"):
        return get_task(task).problems(None)  # the shared data, else the hub (uscd.tasks.multipl_e)
    if task not in DATA:
        raise UscdError(f"held-out tests exist for humaneval, mbpp and multipl-e-<lang>, not {task}")
    return get_task(task, data=DATA[task]).problems(None)


def split(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for task in DATA:
        rows = [held_out(p).to_dict() for p in problems(task)]
        (out / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        kept, dropped = sum(r["kept"] for r in rows), sum(len(r["dropped"]) for r in rows)
        empty = [r["task_id"] for r in rows if not r["kept"]]
        print(
            f"{task}: {len(rows)} problems, {kept} asserts kept, {dropped} dropped, no held-out test: {empty}"
        )


def score(task: str, folders: list[Path]) -> None:
    held = held_out_problems(problems(task))
    print("| run | pass@1 (full tests) | pass@1 (held-out) | 95% CI | problems |")
    print("|---|---|---|---|---|")
    for folder in folders:
        s = score_folder(folder, held)
        full = (
            json.loads((folder / "summary.json").read_text()).get("pass@1")
            if (folder / "summary.json").exists()
            else None
        )
        full_text = "-" if full is None else f"{full:.1%}"
        lo, hi = s["pass@1_heldout_ci95"]
        print(f"| {folder} | {full_text} | {s['pass@1_heldout']:.1%} | {lo:.1%}–{hi:.1%} | {s['problems']} |")
    for folder in folders[1:]:
        p = paired(folders[0], folder)
        print(
            f"{folder} vs {folders[0]} (held-out): fail→pass {p['fail_to_pass']}, pass→fail "
            f"{p['pass_to_fail']}, exact McNemar p = {p['p_value']:.3g} over {p['problems']} problems"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split")
    s.add_argument("--out", type=Path, default=ROOT / "docs" / "heldout-split")
    c = sub.add_parser("score")
    c.add_argument("task", help="humaneval, mbpp or multipl-e-<lang>")
    c.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "split":
            split(args.out)
        else:
            score(args.task, args.folders)
    except UscdError as exc:
        print(f"heldout_eval: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
