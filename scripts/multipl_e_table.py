#!/usr/bin/env python
"""The per-language MultiPL-E table (Markdown) from committed run folders and parity files.

    python scripts/multipl_e_table.py results/qwen2.5-coder-0.5b [--method greedy]

One row per `multipl-e-<lang>/<method>/summary.json` under ROOT: problems, pass@1 with its 95 % CI,
statuses, compile failures, flags; and, where `multipl-e-<lang>/parity.json` exists (written by
scripts/multipl_e_parity.py), MultiPL-E's own verdict count and how many verdicts are identical.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def row(lang_dir: Path, method: str) -> str | None:
    summary_path = lang_dir / method / "summary.json"
    if not summary_path.exists():
        return None
    s = json.loads(summary_path.read_text())
    if "pass@1" not in s:
        return None
    results = [json.loads(line) for line in (lang_dir / method / "results.jsonl").read_text().splitlines()]
    compile_failures = sum(r.get("phase") == "compile" for r in results)
    lo, hi = s["pass@1_ci95"]
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items()))
    parity = "-"
    parity_path = lang_dir / "parity.json"
    if parity_path.exists():
        (p,) = json.loads(parity_path.read_text())
        programs = p.get("programs", p.get("problems"))  # older files said "problems"
        parity = f"{p['theirs_ok']} OK; {p['identical']}/{programs} identical"
    flags = "; ".join(s.get("environment_flags", [])) or "-"
    language = lang_dir.name.removeprefix("multipl-e-")
    return (
        f"| {language} | {s['problems_executed']} | {s['pass@1']:.1%} | [{lo:.1%}, {hi:.1%}] | {statuses} "
        f"| {compile_failures} | {parity} | {flags} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--method", default="greedy")
    args = parser.parse_args()
    columns = ["language", "problems", "pass@1", "95% CI", "statuses", "compile failures"]
    columns += ["MultiPL-E's evaluator", "flags"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for lang_dir in sorted(args.root.glob("multipl-e-*")):
        if line := row(lang_dir, args.method):
            print(line)


if __name__ == "__main__":
    main()
