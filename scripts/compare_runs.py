"""Compare the samples and traces of two run folders, problem by problem (the engine-parity check).

    python scripts/compare_runs.py RUN_A RUN_B [--limit N]

For every (task_id, sample_idx) both folders hold: the completion, and every trace field that
records a decision (tokens, greedy tokens, uncertainty values, uncertain / contrast / fallback
flags, head sizes). Timings are ignored. Prints the counts and the first difference of each
problem that differs; exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TRACE_FIELDS = ("tokens", "greedy", "uncertainty", "uncertain", "contrast", "fallback", "head_size")


def load(folder: Path, name: str) -> dict:
    path = folder / name
    if not path.exists():
        return {}
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {(r["task_id"], r["sample_idx"]): r for r in rows}


def differences(a: Path, b: Path, limit: int | None) -> tuple[int, list[str]]:
    sa, sb = load(a, "samples.jsonl"), load(b, "samples.jsonl")
    ta, tb = load(a, "traces.jsonl"), load(b, "traces.jsonl")
    keys = [k for k in sa if k in sb]
    keys = keys[:limit] if limit else keys
    out = []
    for key in keys:
        if sa[key]["completion"] != sb[key]["completion"]:
            out.append(f"{key}: completion differs")
            continue
        for field in TRACE_FIELDS if key in ta and key in tb else ():
            if ta[key][field] != tb[key][field]:
                out.append(f"{key}: trace field {field} differs")
                break
    return len(keys), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    n, diffs = differences(args.a, args.b, args.limit)
    ca = json.loads((args.a / "config.json").read_text()).get("config_hash")
    cb = json.loads((args.b / "config.json").read_text()).get("config_hash")
    print(
        f"{args.a} vs {args.b}: {n - len(diffs)}/{n} identical (completion + trace decisions); "
        f"config_hash {ca} vs {cb}"
    )
    for line in diffs:
        print("  " + line)
    return 1 if diffs or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
