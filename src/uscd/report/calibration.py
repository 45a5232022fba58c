"""The calibration grid (`--calibration-grid`): one point per run, trigger rate vs pass@1."""

from __future__ import annotations

import json
from pathlib import Path

from uscd.report.data import PlotSpec, Run
from uscd.report.loader import group_runs, load_run
from uscd.report.run_stats import run_stats
from uscd.report.text import fmt_value
from uscd.runs import find_run_folders


def calibration_data(grid: Path, plots: list[PlotSpec]) -> list[dict]:
    runs = [load_run(f) for f in find_run_folders(grid)]
    out = []
    for group in group_runs(runs, baseline=""):
        varying = varying_knobs(group.runs)
        points = sorted(
            (grid_point(r, varying) for r in group.runs),
            key=lambda p: (p["contrast_rate"] or 0.0, p["pass@1"] or 0.0, p["path"]),
        )
        title = f"calibration grid: {group.title}"
        name = f"calibration_{group.id}.png"
        plots.append(PlotSpec(name, "calibration", title, points))
        out.append(
            {
                "id": group.id,
                "task": group.task,
                "prompt_style": group.prompt_style,
                "model": group.model,
                "varying": varying,
                "points": points,
                "plot": name,
            }
        )
    return out


def method_settings(run: Run) -> dict:
    method = run.config.get("method", {})
    return {"rule": method.get("rule"), "lame": method.get("lame_source"), **method.get("knobs", {})}


def varying_knobs(runs: list[Run]) -> list[str]:
    settings = [method_settings(r) for r in runs]
    keys = sorted({k for s in settings for k in s})
    return [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1]


def grid_point(run: Run, varying: list[str]) -> dict:
    settings = method_settings(run)
    # a knob the run does not have (greedy has no threshold) is left out, not shown as None
    label = ", ".join(f"{k}={fmt_value(settings[k])}" for k in varying if settings.get(k) is not None)
    stats = run_stats(run)
    return {
        "label": label or run.name,
        "name": run.name,
        "path": run.path,
        "config_hash": stats["config_hash"],
        "knobs": stats["knobs"],
        "rule": stats["rule"],
        "contrast_rate": stats["contrast_rate"],
        "pass@1": stats["pass@1"],
        "pass@1_ci95": stats["pass@1_ci95"],
        "problems": stats["problems"],
    }
