"""BRANCH-BATCH: the `branch` method's searches at `--batch N` (one serve loop, N searches in worker
threads) vs `--batch 1` (one search at a time, KV copies), same problems, generation only: the
wall-time ratio, and how many problems end with the same program and the same search outcome.

    flock /tmp/uscd-model.lock python benchmarks/branch_batch.py [--task mbpp] [--limit 40]
        [--batch 8] [--methods branch] [--model M]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import ROOT, Timer, emit, model_lock, table

MBPP = ROOT.parent / "shared/data/mbpp/mbpp.jsonl"


def _run(out: Path, args, batch: int) -> float:
    from uscd.run.settings import EvalSettings, GenerationSettings, ModelSettings, RunSettings
    from uscd.runner import parse_methods, run_eval

    options = {"data": str(MBPP)} if args.task == "mbpp" else {}
    methods = parse_methods(args.methods)
    run = RunSettings(args.task, options, methods, out, limit=args.limit, generation_only=True)
    generation = GenerationSettings(batch=batch, save_traces=False)
    with Timer() as t:
        run_eval(EvalSettings(run, ModelSettings(name=args.model), generation))
    return t.s


def _samples(folder: Path) -> dict:
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return {r["task_id"]: (r["completion"], r["stats"]["search"]["outcome"]) for r in rows}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mbpp", choices=["mbpp", "humaneval"])
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--methods", default="branch")
    ap.add_argument("--model", default=None)
    args = ap.parse_args(argv)
    label = args.methods.split("=")[0].split(":")[0]
    with tempfile.TemporaryDirectory(prefix="uscd-branch-batch-") as tmp, model_lock():
        single_s = _run(Path(tmp) / "b1", args, 1)
        batched_s = _run(Path(tmp) / "bn", args, args.batch)
        one, many = _samples(Path(tmp) / "b1" / label), _samples(Path(tmp) / "bn" / label)
    same_program = sum(one[t][0] == many[t][0] for t in one)
    same_outcome = sum(one[t][1] == many[t][1] for t in one)
    ratio = batched_s / single_s
    print(f"BRANCH-BATCH: {args.task} x {args.limit}, {args.methods}, generation only")
    print(table(["arm", "wall s"], [["--batch 1", single_s], [f"--batch {args.batch}", batched_s]]))
    print(f"same program {same_program}/{len(one)}, same search outcome {same_outcome}/{len(one)}")
    return emit(
        "BRANCH-BATCH", ratio, f"--batch {args.batch} / --batch 1 wall time", None,
        single_s=round(single_s, 2), batched_s=round(batched_s, 2), problems=len(one),
        same_program=same_program, same_outcome=same_outcome,
    )  # fmt: skip


if __name__ == "__main__":
    main()
