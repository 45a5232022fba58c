"""The branch method on MultiPL-E, one row per language (docs/branch.md, *Results: MultiPL-E*).

    python scripts/branch_languages.py [RESULTS]      (default results/qwen2.5-coder-0.5b)

For each RESULTS/multipl-e-<lang> holding a scored branch run (its program A scored by `uscd analyze
program-a`, held-out files by scripts/heldout_eval.py): pass@1 of greedy, program A and branch on the
full and held-out tests, branch's paired exact McNemar against greedy and against its own A, the tokens
it decoded against greedy's, and — where a filter run exists — branch against it on held-out tests.
Prints a Markdown table and an "all languages" row pooling the problems.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from branch_table import outcomes

from uscd.metrics import mcnemar_exact

RUNS = {"greedy": "greedy", "a": "branch/program-a", "branch": "branch"}

HEADER = (
    "| language | greedy | program A | branch | held-out: greedy → branch | vs greedy, full · held-out "
    "(fixed / broken) | vs own A, full | vs filter, held-out | tokens vs greedy |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def pct(passed: dict[str, bool]) -> str:
    return f"{100 * sum(passed.values()) / len(passed):.1f} %"


def flips(base: dict[str, bool], cand: dict[str, bool], with_p: bool = True) -> str:
    common = sorted(set(base) & set(cand))
    test = mcnemar_exact([base[t] for t in common], [cand[t] for t in common])
    return f"{test.b} / {test.c}" + (f" (p = {test.p_value:.2g})" if with_p else "")


def tokens(folder: Path, searched: bool) -> int:
    gen = json.loads((folder / "summary.json").read_text())["generation"]
    return gen["search"]["tokens_decoded"] if searched else gen["new_tokens"]


def language_row(lang_dir: Path) -> tuple[str, dict[str, dict[str, dict[str, bool]]]]:
    """The language's row, and its outcomes per kind of tests and run (for the pooled row)."""
    full = {m: outcomes(lang_dir / p, "results.jsonl") for m, p in RUNS.items()}
    held = {m: outcomes(lang_dir / p, "heldout_results.jsonl") for m, p in RUNS.items()}
    vs_filter = "–"
    if (lang_dir / "filter" / "heldout_results.jsonl").exists():
        vs_filter = flips(outcomes(lang_dir / "filter", "heldout_results.jsonl"), held["branch"])
    ratio = tokens(lang_dir / "branch", True) / tokens(lang_dir / "greedy", False)
    row = (
        f"| {lang_dir.name.removeprefix('multipl-e-')} | {pct(full['greedy'])} | {pct(full['a'])} | "
        f"**{pct(full['branch'])}** | {pct(held['greedy'])} → {pct(held['branch'])} | "
        f"{flips(full['greedy'], full['branch'])} · {flips(held['greedy'], held['branch'], False)} | "
        f"{flips(full['a'], full['branch'], False)} | {vs_filter} | {ratio:.2f}× |"
    )
    return row, {"full": full, "held": held}


def pooled_row(merged: dict[str, dict[str, dict[str, bool]]]) -> str:
    """All languages as one sample of problems (task ids prefixed by their language)."""
    full, held = merged["full"], merged["held"]
    return (
        f"| **all ({len(full['branch'])} problems)** | {pct(full['greedy'])} | {pct(full['a'])} | "
        f"**{pct(full['branch'])}** | {pct(held['greedy'])} → {pct(held['branch'])} | "
        f"{flips(full['greedy'], full['branch'])} · {flips(held['greedy'], held['branch'], False)} | "
        f"{flips(full['a'], full['branch'], False)} | | |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, nargs="?", default=Path("results/qwen2.5-coder-0.5b"))
    args = ap.parse_args()
    ready = [
        d
        for d in sorted(args.results.glob("multipl-e-*"))
        if (d / "branch" / "program-a" / "heldout_results.jsonl").exists()
    ]
    if not ready:
        raise SystemExit(f"no scored MultiPL-E branch run under {args.results}")
    print(HEADER)
    merged: dict[str, dict[str, dict[str, bool]]] = {k: {m: {} for m in RUNS} for k in ("full", "held")}
    for d in ready:
        row, outcomes_by = language_row(d)
        print(row)
        for tests, runs in outcomes_by.items():
            for method, passed in runs.items():
                merged[tests][method].update({f"{d.name}:{t}": v for t, v in passed.items()})
    print(pooled_row(merged))


if __name__ == "__main__":
    main()
