"""The per-language figure of MultiPL-E: one per model (and prompt style) with two or more languages.

Each MultiPL-E language is a task of its own (`multipl-e-rs`, ...), so a group of the report; this
figure puts a model's languages side by side: languages on the x axis (sorted), one bar per method
in each, with the 95% CI of the run's pass@1 (the run rows' `pass@1_ci95`, as in the methods tables).
"""

from __future__ import annotations

from collections import Counter

from uscd.report.data import COMPLETION, PlotSpec
from uscd.report.loader import slug
from uscd.report.overview import method_labels

MULTIPL_E = "multipl-e-"


def language_plots(groups: list[dict], baseline: str) -> list[PlotSpec]:
    """One figure per model, model sha256 and prompt style whose runs cover two or more languages."""
    by_model: dict[tuple[str, str, str], list[dict]] = {}
    for group in (g for g in groups if g["task"].startswith(MULTIPL_E)):
        key = (group["model"], group["prompt_style"], str(group["model_sha256"]))
        by_model.setdefault(key, []).append(group)
    names: Counter[str] = Counter()
    specs = []
    for (model, style, sha), members in sorted(by_model.items()):
        if len(members) < 2:
            continue
        name = slug(model if style == COMPLETION else f"{model}_{style}")
        names[name] += 1
        if names[name] > 1:
            name = f"{name}_{slug(sha[:8])}"
        title = f"MultiPL-E · {model}" + ("" if style == COMPLETION else f" ({style})")
        specs.append(PlotSpec(f"multipl_e_{name}.png", "languages", title, figure_data(members, baseline)))
    return specs


def figure_data(groups: list[dict], baseline: str) -> dict:
    """Languages (sorted) and, per method, its pass@1 and CI in each language (None where not run)."""
    groups = sorted(groups, key=lambda g: g["task"])
    methods = [
        {"label": label, "baseline": label == baseline, "points": [point(g, label) for g in groups]}
        for label in method_labels(groups, baseline)
    ]
    return {"languages": [g["task"].removeprefix(MULTIPL_E) for g in groups], "methods": methods}


def point(group: dict, label: str) -> dict | None:
    """The method's first run in the group (runs are in name order), if it ran and was executed."""
    run = next((r for r in group["runs"] if r["label"] == label), None)
    if run is None or run["pass@1"] is None:
        return None
    return {"pass@1": run["pass@1"], "ci": run["pass@1_ci95"]}
