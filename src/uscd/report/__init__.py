"""`uscd report`: statistics, paired comparisons against a baseline, plots; md/json/html output.

The package reads top to bottom as the data flows:

- `data`: the loaded runs and groups, the figure specs, the report's constants;
- `loader`: run folders -> runs, grouped by task, prompt style and model, with display names;
- `run_stats`, `compare`, `verdicts`, `traces`, `calibration`: the per-run rows, the paired tests
  against the baseline (statistics from `uscd.metrics`), Holm's correction and the per-method
  verdicts, the trace figures' samples, the calibration grid;
- `overview`, `languages`: the leading table of every method in every group, and the per-language
  MultiPL-E figures;
- `build`: all of it into one JSON-able dict (report.json is exactly that dict);
- `blocks` -> `markdown` / `html` (jinja2 template and CSS under templates/), `plots` (PNGs);
- `output`: the files, each written atomically.
"""

from uscd.report.build import build_report
from uscd.report.data import FORMATS, PlotSpec, Report, TraceCase
from uscd.report.output import render_stdout, write_report

__all__ = ["FORMATS", "PlotSpec", "Report", "TraceCase", "build_report", "render_stdout", "write_report"]
