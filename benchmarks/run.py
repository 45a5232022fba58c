"""Run all the performance figures (P1-P7, X1) and print them together.

    flock /tmp/uscd-model.lock python benchmarks/run.py [--quick] [--only P1,P4]

Each figure runs as its own script (a fresh process, so one model's memory never weighs on the
next) and ends with one JSON line, collected here. ``--quick`` shrinks every figure to a smoke
run (a few problems): its numbers are not the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "P1": ("p1_uscd_overhead.py", "USCD wall / greedy wall, first 40 HumanEval", ["--limit", "3"]),
    "P2": (
        "p2_engine_vs_bare.py",
        "engine greedy tok/s / bare llama-cpp-python loop",
        ["--limit", "3", "--rounds", "1"],
    ),
    "P3": ("p3_full_eval.py", "full HumanEval with USCD, generation + execution, s", ["--limit", "3"]),
    "P4": ("p4_references.py", "164 canonical solutions in the sandbox, s", ["--limit", "10"]),
    "P5": (
        "p5_batching.py",
        "chosen-path eval tok/s / single-stream, per model",
        ["--limit", "2", "--steps", "6", "--max-new-tokens", "48"],
    ),
    "P6": (
        "p6_sample_cache.py",
        "n samples per problem: wall without / with the prompt cache reuse",
        ["--limit", "1", "--n", "3", "--max-new-tokens", "16", "--rules", "sample"],
    ),
    "P7": (
        "p7_methods_cost.py",
        "AdaDec wall / greedy wall (SPA beside), first 40 HumanEval",
        ["--limit", "2"],
    ),
    "X1": (
        "x1_multipl_e_exec.py",
        "one method's MultiPL-E samples executed, 12 required languages, s",
        ["--languages", "sh,lua", "--no-pch-ratio"],
    ),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke-sized runs (a few problems each)")
    ap.add_argument("--only", default=",".join(SCRIPTS))
    ap.add_argument("--json", type=Path, default=None, help="also write all records to this file")
    args = ap.parse_args(argv)

    records = {}
    for fig in [f.strip().upper() for f in args.only.split(",") if f.strip()]:
        script, _, quick = SCRIPTS[fig]
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else [])]
        print(f"\n=== {fig}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        sys.stdout.write(proc.stdout)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        rec = (
            json.loads(lines[-1])
            if lines and proc.returncode == 0
            else {"figure": fig, "error": proc.returncode}
        )
        rec["script_s"] = round(time.perf_counter() - t0, 1)
        records[fig] = rec

    print("\n=== summary" + (" (--quick: smoke sizes, not the figures)" if args.quick else ""))
    width = max(len(d) for _, d, _ in SCRIPTS.values())
    for fig, rec in records.items():
        desc = SCRIPTS[fig][1]
        if "error" in rec:
            print(f"{fig}  {desc:<{width}}  FAILED (exit {rec['error']})")
            continue
        ok = {True: "ok", False: "MISSED", None: "-"}[rec.get("ok")]
        print(f"{fig}  {desc:<{width}}  {rec['value']:>9.3f}  target {rec['target']:<34} {ok}")
    print(json.dumps({"figures": records}))
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0 if all("error" not in r for r in records.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
