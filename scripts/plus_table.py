"""Markdown table of base and plus pass@1 for every HumanEval+/MBPP+ run folder under a results root.

    python scripts/plus_table.py [results/qwen2.5-coder-0.5b]

Reads each run's summary.json (written by `uscd eval` / `uscd evaluate`); the task column is the
run's own task name, so figures from the MBPP+ pre-release snapshot read `mbppplus-snapshot`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rows(root: Path) -> list[list[str]]:
    out = []
    for path in sorted(root.glob("*/*/summary.json")):
        s = json.loads(path.read_text())
        if "pass@1_base" not in s:
            continue
        base, plus = s["suites"]["base"], s["suites"]["plus"]
        out.append(
            [
                s["task"],
                s.get("method") or "-",
                str(s["problems_executed"]),
                f"{s['pass@1_base']:.1%} ({base['passed']})",
                f"{s['pass@1_plus']:.1%} ({plus['passed']})",
                f"{s['pass@1_plus'] - s['pass@1_base']:+.1%}",
                str(path.parent.relative_to(ROOT) if path.is_relative_to(ROOT) else path.parent),
            ]
        )
    return out


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "qwen2.5-coder-0.5b"
    head = ["task", "method", "problems", "base pass@1", "plus pass@1", "plus - base", "run folder"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for row in rows(root):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
