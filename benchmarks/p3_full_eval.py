"""P3: full HumanEval (164) with USCD, generation + sandboxed execution, wall time (target <= 15 min).

Runs ``uscd.runner.run_eval`` (what ``uscd eval`` runs) into a temporary --out folder, from
loading the model to the last summary, and reports pass@1 beside the time.

    flock /tmp/uscd-model.lock python benchmarks/p3_full_eval.py [--limit N] [--method uscd] [--batch auto]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import Timer, emit, model_lock, table

TARGET_S = 15 * 60


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="first N problems (default: all 164)")
    ap.add_argument("--method", default="uscd")
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch", default="1", help="auto or N (default 1)")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    args = ap.parse_args(argv)

    from uscd.run.settings import EvalSettings, GenerationSettings, ModelSettings, RunSettings
    from uscd.runner import parse_methods, run_eval

    with tempfile.TemporaryDirectory(prefix="uscd-p3-") as tmp, model_lock():
        run = RunSettings("humaneval", {}, parse_methods(args.method), Path(tmp), limit=args.limit)
        batch = args.batch if args.batch == "auto" else int(args.batch)
        generation = GenerationSettings(max_new_tokens=args.max_new_tokens, batch=batch, save_traces=False)
        settings = EvalSettings(run, ModelSettings(name=args.model), generation)
        with Timer() as t:
            (summary,) = run_eval(settings)
    n = summary.get("problems_executed", 0)
    pass1 = summary.get("pass@1")
    gen = summary.get("generation", {})
    print(f"P3: humaneval, method {args.method}, {n} problems")
    print(
        table(
            ["wall s", "pass@1", "passed", "new tokens", "decode s", "contrast rate", "target s"],
            [
                [
                    t.s,
                    pass1,
                    summary.get("passed"),
                    gen.get("new_tokens"),
                    gen.get("decode_s"),
                    gen.get("contrast_rate"),
                    TARGET_S,
                ]
            ],
        )
    )
    return emit(
        "P3",
        t.s,
        f"<= {TARGET_S} s",
        t.s <= TARGET_S if args.limit is None else None,
        problems=n,
        pass_at_1=pass1,
        passed=summary.get("passed"),
        method=args.method,
        new_tokens=gen.get("new_tokens"),
        contrast_rate=gen.get("contrast_rate"),
    )


if __name__ == "__main__":
    main()
