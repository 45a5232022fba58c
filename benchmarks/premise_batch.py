"""PREMISE-BATCH: the premise study (`uscd analyze premise`) at `--batch N` (one serve loop, N
problems' oracles in worker threads) vs `--batch 1` (one problem at a time, KV copies), on the same
failing problems of a committed greedy run: the wall-time ratio, and how far the two agree (same
status, same "fixed", same set of passing flips per problem).

    flock /tmp/uscd-model.lock python benchmarks/premise_batch.py [--run results/.../mbpp/greedy]
        [--limit 16] [--batch 8] [--k 5] [--m 4] [--model M]

Both arms analyse a re-decoded program that differs from the committed one (`--accept-redecoded`),
as the evidence script's batched steps do; studies go to a temporary copy of the run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from _common import ROOT, Timer, emit, model_lock, table

RUN = ROOT / "results" / "qwen2.5-coder-0.5b" / "mbpp" / "greedy"


def _copy(run: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    for name in ("config.json", "samples.jsonl", "results.jsonl"):
        shutil.copy(run / name, out / name)
    return out


def _study(run_dir: Path, args, batch: int) -> float:
    from uscd.analysis import study
    from uscd.analysis.oracle import OracleSettings, sandbox_judge
    from uscd.cli.analyze import open_run_decoder
    from uscd.run.folder import task_of_run

    config = json.loads((run_dir / "config.json").read_text())
    settings = OracleSettings(
        k=args.k, m=args.m, max_new_tokens=config["generation"]["max_new_tokens"], accept_redecoded=True
    )
    judge = sandbox_judge(config["sandbox_limits"]["timeout_s"], "auto")
    task = task_of_run(config)
    decoder, model = open_run_decoder(config, args.model, None)
    try:
        with Timer() as t:
            study.run_study(
                run_dir, decoder, task, settings, judge, model=model, limit=args.limit, batch=batch
            )
    finally:
        decoder.backend.close()
    return t.s


def _lines(run_dir: Path) -> dict:
    rows = [json.loads(x) for x in (run_dir / "premise" / "oracle.jsonl").read_text().splitlines()]
    return {
        r["task_id"]: (
            r["status"],
            r.get("fixed"),
            frozenset((f["step"], f["token"]) for f in r.get("flips", []) if f["passed"]),
            sum(f.get("tokens", 0) for f in r.get("flips", [])),
        )
        for r in rows
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=RUN, help="a committed greedy run folder (with results)")
    ap.add_argument("--limit", type=int, default=16, help="the first N failing problems")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--model", default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="uscd-premise-batch-") as tmp, model_lock():
        one_dir, many_dir = _copy(args.run, Path(tmp) / "b1"), _copy(args.run, Path(tmp) / "bn")
        single_s = _study(one_dir, args, 1)
        batched_s = _study(many_dir, args, args.batch)
        one, many = _lines(one_dir), _lines(many_dir)
    same_status = sum(one[t][0] == many[t][0] for t in one)
    same_fixed = sum(one[t][1] == many[t][1] for t in one)
    same_flips = sum(one[t][2] == many[t][2] for t in one)
    tokens = (sum(v[3] for v in one.values()), sum(v[3] for v in many.values()))
    ratio = batched_s / single_s
    print(f"PREMISE-BATCH: {args.run} x {args.limit} failing problems, k {args.k}, m {args.m}")
    rows = [["--batch 1", single_s, tokens[0]], [f"--batch {args.batch}", batched_s, tokens[1]]]
    print(table(["arm", "wall s", "flip tokens"], rows))
    print(
        f"same status {same_status}/{len(one)}, same fixed {same_fixed}/{len(one)}, "
        f"same passing flips {same_flips}/{len(one)}"
    )
    return emit(
        "PREMISE-BATCH", ratio, f"--batch {args.batch} / --batch 1 wall time", None,
        single_s=round(single_s, 2), batched_s=round(batched_s, 2), problems=len(one),
        same_status=same_status, same_fixed=same_fixed, same_passing_flips=same_flips,
        flip_tokens_single=tokens[0], flip_tokens_batched=tokens[1],
    )  # fmt: skip


if __name__ == "__main__":
    main()
