"""`uscd report PATH...`: pass@k with CIs, paired tests against a baseline, flipped problems, plots.

Without --out the markdown report goes to stdout; with --out DIR the folder gets report.md,
report.json, index.html (self-contained) and the PNGs. The same run folders give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from uscd.report import FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="statistics, paired comparisons and plots of eval runs", description=__doc__
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a run folder, or a folder of run folders")
    p.add_argument(
        "--baseline",
        default=None,
        metavar="LABEL",
        help="label of the method to compare against (default: greedy)",
    )
    p.add_argument(
        "--out", default=None, metavar="DIR", help="write report.md, report.json, index.html and PNGs here"
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="without --out: what to print (default md); with --out: write only this format",
    )
    p.add_argument(
        "--calibration-grid",
        default=None,
        metavar="DIR",
        help="folder of run folders from `uscd calibrate`: plot trigger rate vs pass@1",
    )
    p.set_defaults(func=run_report_cmd)


def run_report_cmd(args: argparse.Namespace) -> int:
    from uscd.report import build_report, render_stdout, write_report

    report = build_report(
        [Path(p) for p in args.paths],
        args.baseline or "greedy",
        strict_baseline=args.baseline is not None,
        calibration_grid=Path(args.calibration_grid) if args.calibration_grid else None,
    )
    if args.out is None:
        sys.stdout.write(render_stdout(report, args.format or "md"))
        return 0
    formats = (args.format,) if args.format else FORMATS
    for path in write_report(report, Path(args.out), formats):
        print(f"wrote {path}")
    return 0
