"""Copy the whole-table report's overview and verdicts (docs/results/overview/report.md, made by
`scripts/evidence_v2.sh overview`) into docs/results.md, between its overview markers, so the page
leads with exactly what `uscd report` made of the committed runs; and the grid's steps that were not
run (`scripts/evidence_v2.sh status`) between its not-run markers. tests/test_report_committed.py
checks that the page agrees with both.

    python scripts/results_overview.py [--check]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs/results/overview/report.md"
PAGE = ROOT / "docs/results.md"
BEGIN, END = "<!-- overview: begin (scripts/results_overview.py) -->", "<!-- overview: end -->"
NOT_RUN = ("<!-- not-run: begin (scripts/results_overview.py) -->", "<!-- not-run: end -->")
PARTS = {
    "1.": "0.5B, MultiPL-E, 12 languages (completion prompts)",
    "2.": "0.5B, chat mode, HumanEval(+) and the MBPP+ snapshot",
    "3.": "1.5B: its own calibrations, then HumanEval and MBPP (completion prompts)",
    "4.": "the premise study (`uscd analyze premise`)",
    "5.": "the rest of the grid: the 1.5B in chat mode; always-on baselines and the paper/official settings"
    " on MultiPL-E",
}


def overview_section(report: str) -> str:
    """The report's Overview and Verdicts sections, one heading level down, links into its folder."""
    start = report.index("## Overview")
    end = report.index("\n## ", report.index("## Verdicts after Holm") + 1)
    text = report[start:end].strip("\n")
    text = text.replace("\n## ", "\n### ").replace("## Overview", "### Overview", 1)
    return text.replace("](multipl_e_", "](results/overview/multipl_e_")


def not_run_section(status_lines: list[str]) -> str:
    """One row per part of the grid: steps done, the steps not run, their estimated hours."""
    rows = [line.split("\t") for line in status_lines if line.strip()]
    out = [
        "| part | done | not run | estimated hours | steps not run (`scripts/evidence_v2.sh STEP...`) |",
        "|---|---|---|---|---|",
    ]
    for part, title in PARTS.items():
        steps = [r for r in rows if r[0] == part]
        missing = [r for r in steps if r[2] != "done"]
        minutes = sum(int(r[2].split("~")[1].split()[0]) for r in missing)
        names = ", ".join(f"`{r[1]}`" for r in missing) or "–"
        done = len(steps) - len(missing)
        out.append(f"| {part} {title} | {done} | {len(missing)} | {minutes / 60:.1f} | {names} |")
    return "\n".join(out)


def status_lines() -> list[str]:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/evidence_v2.sh"), "status"], capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def spliced(page: str, section: str, markers: tuple[str, str] = (BEGIN, END)) -> str:
    begin, end = markers
    if begin not in page or end not in page:
        raise SystemExit(f"{PAGE.name} has no markers {begin} … {end}")
    head, rest = page.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{section}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is not up to date")
    args = ap.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    new = spliced(page, overview_section(REPORT.read_text(encoding="utf-8")))
    new = spliced(new, not_run_section(status_lines()), NOT_RUN)
    if args.check:
        if new != page:
            print(
                f"{PAGE.relative_to(ROOT)} does not hold the overview of {REPORT.relative_to(ROOT)}",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
