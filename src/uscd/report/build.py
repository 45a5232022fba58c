"""Build the report's data: runs -> groups -> per-run rows, paired comparisons, figures, notes.

Everything here is deterministic: runs and problems are sorted, bootstraps are seeded, floats are
rounded before they are written and nothing depends on the clock, so the same run folders always
give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uscd.errors import UscdError
from uscd.report.calibration import calibration_data
from uscd.report.compare import comparisons
from uscd.report.data import ALPHA, FORMAT_VERSION, Group, PlotSpec, Report, Run
from uscd.report.languages import language_plots
from uscd.report.loader import group_runs, load_runs
from uscd.report.overview import overview
from uscd.report.run_stats import run_stats
from uscd.report.traces import trace_plots
from uscd.report.verdicts import apply_holm


def build_report(
    paths: list[Path],
    baseline: str = "greedy",
    *,
    strict_baseline: bool = False,
    calibration_grid: Path | None = None,
) -> Report:
    runs = load_runs(paths)
    if strict_baseline and not any(r.label == baseline for r in runs):
        labels = ", ".join(sorted({r.label for r in runs}))
        raise UscdError(f"no run is labelled {baseline!r} (labels: {labels}); pick one with --baseline")
    groups = group_runs(runs, baseline)
    plots: list[PlotSpec] = []
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "baseline": baseline,
        "alpha": ALPHA,
        "groups": [group_data(g, baseline, plots) for g in groups],
    }
    data |= apply_holm(data["groups"], baseline)
    languages = language_plots(data["groups"], baseline)
    plots.extend(languages)
    data["overview"] = overview(data["groups"], baseline, [p.name for p in languages])
    data["warnings"] = environment_warnings(groups)
    if calibration_grid is not None:
        data["calibration_grid"] = calibration_data(Path(calibration_grid), plots)
    data["notes"] = notes(runs, groups)
    return Report(data, groups, plots)


def group_data(group: Group, baseline: str, plots: list[PlotSpec]) -> dict:
    group.comparisons = comparisons(group, baseline)
    stats = [run_stats(r) for r in group.runs]
    plots.append(PlotSpec(f"pass1_{group.id}.png", "pass1", group.title, pass1_points(stats, baseline)))
    traces = trace_plots(group)
    plots.extend(traces)
    return {
        "id": group.id,
        "task": group.task,
        "prompt_style": group.prompt_style,
        "model": group.model,
        "model_sha256": group.model_sha,
        "runs": stats,
        "comparisons": group.comparisons,
        "plots": [f"pass1_{group.id}.png", *(p.name for p in traces)],
    }


def pass1_points(stats: list[dict], baseline: str) -> list[dict]:
    return [
        {"name": s["name"], "pass@1": s["pass@1"], "ci": s["pass@1_ci95"], "baseline": s["label"] == baseline}
        for s in stats
        if s["pass@1"] is not None
    ]


def environment_warnings(groups: list[Group]) -> list[str]:
    """Runs whose numbers measure the machine more than the method (e.g. a missing compiler)."""
    return [
        f"{group.title} · {run.name}: {flag}"
        for group in groups
        for run in group.runs
        for flag in run.environment_flags
    ]


def notes(runs: list[Run], groups: list[Group]) -> list[str]:
    """What the reader must know to trust the numbers."""
    out = []
    for run in sorted(runs, key=lambda r: r.path):
        s = run.summary
        if s["problems_executed"] < s["problems_generated"]:
            out.append(
                f"{run.path}: only {s['problems_executed']} of {s['problems_generated']} generated problems "
                f"were executed; run `uscd evaluate {run.path}` to finish"
            )
    for group in groups:
        for comp in group.comparisons:
            if not comp.get("paired"):
                out.append(f"{group.title}: {comp['method']} not compared: {comp['reason']}")
            elif comp["problems_paired"] < max(comp["problems_baseline"], comp["problems_candidate"]):
                out.append(f"{group.title}: {partial_pairing(comp)}")
        versions = {r.config.get("task", {}).get("prompt_version") for r in group.runs}
        if len(versions) > 1:
            out.append(f"{group.title}: the runs used different prompt versions")
    if len(groups) > 1:
        out.append(
            "runs of different tasks, prompt styles (completion, chat) or models are reported in separate "
            "groups and never paired"
        )
    return out


def partial_pairing(comp: dict) -> str:
    return (
        f"{comp['method']} vs {comp['baseline']} is paired on the {comp['problems_paired']} problems both "
        f"executed (baseline {comp['problems_baseline']}, method {comp['problems_candidate']})"
    )
