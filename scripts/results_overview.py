"""Copy the whole-table report's overview and verdicts (docs/results/overview/report.md, made by
`scripts/evidence_v2.sh overview`) into docs/results.md, between its overview markers, so the page
leads with exactly what `uscd report` made of the committed runs (tests/test_report_committed.py
checks that they agree).

    python scripts/results_overview.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs/results/overview/report.md"
PAGE = ROOT / "docs/results.md"
BEGIN, END = "<!-- overview: begin (scripts/results_overview.py) -->", "<!-- overview: end -->"


def overview_section(report: str) -> str:
    """The report's Overview and Verdicts sections, one heading level down, links into its folder."""
    start = report.index("## Overview")
    end = report.index("\n## ", report.index("## Verdicts after Holm") + 1)
    text = report[start:end].strip("\n")
    text = text.replace("\n## ", "\n### ").replace("## Overview", "### Overview", 1)
    return text.replace("](multipl_e_", "](results/overview/multipl_e_")


def spliced(page: str, section: str) -> str:
    if BEGIN not in page or END not in page:
        raise SystemExit(f"{PAGE.name} has no overview markers ({BEGIN} … {END})")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{section}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is not up to date")
    args = ap.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    new = spliced(page, overview_section(REPORT.read_text(encoding="utf-8")))
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
