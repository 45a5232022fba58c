"""What `uscd analyze premise` will cost on committed greedy runs (docs/premise.md, *Cost*); no model.

    python scripts/premise_cost.py results/qwen2.5-coder-0.5b/humaneval/greedy \
        results/qwen2.5-coder-0.5b/mbpp/greedy results/qwen2.5-coder-1.5b/humaneval/greedy

Per run: its failing problems and their greedy programs' tokens (samples.jsonl `stats.steps`);
the upper bound K·m·len(A) flip tokens per problem; and an estimate that needs the steps' V_head
sizes and positions, which a greedy trace does not hold: it reads them from the sibling
`uscd-paper` run's traces on the same problems (its gate records std-norm on every step and
V_head's size wherever it fires, which is nearly every step with two head tokens), takes the K
most uncertain steps with another head token, min(m, head − 1) flips at each, each decoding the
rest of A from that relative position. A's re-decode reads the lame prompt on every step: about
2·len(A) tokens plus both prompts' prefill.

Hours: (A's re-decode + flip tokens) / a rate measured on the same kind of work: `--rate-from` a
`branch` run folder (Σ tokens_decoded / Σ search_s of its samples: forks from a KV copy, greedy
continuations and sandboxed executions), times `--scale` (e.g. the 1.5B's single-stream
throughput relative to the 0.5B's, docs/performance.md P5: 7.9 / 9.7).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def failing(run: Path) -> dict[str, dict]:
    fails = {r["task_id"] for r in read_jsonl(run / "results.jsonl") if r["status"] != "pass"}
    return {s["task_id"]: s for s in read_jsonl(run / "samples.jsonl") if s["task_id"] in fails}


def proxy_flips(trace: dict, a_len: int, k: int, m: int) -> tuple[int, float]:
    """Flips and flip tokens for one problem, from another run's trace of it (see the docstring)."""
    steps = [
        (u, i, h)
        for i, (u, h) in enumerate(zip(trace["uncertainty"], trace["head_size"], strict=True))
        if u is not None and h is not None and h > 1
    ]
    n = max(len(trace["uncertainty"]), 1)
    flips, tokens = 0, 0.0
    for _, step, head in sorted(steps)[:k]:
        count = min(m, head - 1)
        flips += count
        tokens += count * a_len * (1 - step / n)
    return flips, tokens


def measured_rate(branch_run: Path) -> float:
    """Tokens per second of a branch run's whole searches (decoding and executions)."""
    searches = [
        s["stats"]["search"] for s in read_jsonl(branch_run / "samples.jsonl") if s["stats"].get("search")
    ]
    return sum(x["tokens_decoded"] for x in searches) / sum(x["search_s"] for x in searches)


def cost(run: Path, k: int, m: int) -> dict:
    fails = failing(run)
    lengths = {t: int(s["stats"].get("steps", 0)) for t, s in fails.items()}
    traces = run.parent / "uscd-paper" / "traces.jsonl"
    by_id = {t["task_id"]: t for t in read_jsonl(traces)} if traces.exists() else {}
    estimates = [proxy_flips(by_id[t], n, k, m) for t, n in lengths.items() if t in by_id]
    return {
        "run": str(run),
        "failing": len(fails),
        "a_tokens": sum(lengths.values()),
        "upper_bound_flip_tokens": k * m * sum(lengths.values()),
        "proxy_problems": len(estimates),
        "proxy_flips": sum(f for f, _ in estimates),
        "proxy_flip_tokens": round(sum(t for _, t in estimates)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--m", type=int, default=4)
    parser.add_argument("--rate-from", type=Path, default=Path("results/qwen2.5-coder-0.5b/humaneval/branch"))
    parser.add_argument("--scale", type=float, default=1.0, help="rate multiplier (another model)")
    args = parser.parse_args()
    rate = measured_rate(args.rate_from) * args.scale
    print(f"rate: {rate:.1f} tok/s ({args.rate_from}, x{args.scale:g})")
    header = (
        "| run | failing | A tokens | flip tokens, bound K·m·len(A) | flips (proxy) | flip tokens (proxy) |"
    )
    print(header + " hours (proxy / bound) |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        c = cost(run, args.k, args.m)
        redecode = 2 * c["a_tokens"]
        hours = [
            (redecode + c[key]) / rate / 3600 for key in ("proxy_flip_tokens", "upper_bound_flip_tokens")
        ]
        print(
            f"| {c['run']} | {c['failing']} | {c['a_tokens']:,} | {c['upper_bound_flip_tokens']:,} "
            f"| {c['proxy_flips']:,} ({c['proxy_problems']} problems) | {c['proxy_flip_tokens']:,} "
            f"| {hours[0]:.1f} / {hours[1]:.1f} |"
        )


if __name__ == "__main__":
    main()
