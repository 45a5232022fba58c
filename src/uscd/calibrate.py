"""Calibrate USCD's gate (threshold) and contrast (rho, alpha), or SPA's omega, on a held-out split.

(AdaDec's threshold is learned differently, by teacher forcing: ``uscd.calibrate_adadec``.)
Every grid point is an ordinary, resumable `uscd eval` method run on a split that is not a test
set (MBPP validation, task ids 511-600, by default). The best pass@1 wins; ties go to the lower
contrast rate (closer to greedy, cheaper). The thresholds that make the gate fire on 10% and 25%
of steps are read off the uncertainty values the runs recorded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path

from uscd.errors import UscdError
from uscd.methods import MEASURES, PAPER_STD_NORM_THRESHOLD, Gate
from uscd.run.progress import Progress
from uscd.run.settings import EvalSettings
from uscd.runner import MethodSpec, run_eval
from uscd.runs import TRACES, find_run_folders, read_jsonl, write_json_atomic

HELD_OUT = {"mbpp": ("validation", "prompt", "train")}
TRIGGER_TARGETS = (0.10, 0.25)


@dataclass(frozen=True)
class Grid:
    rule = "uscd"
    measure: str = "std-norm"
    thresholds: tuple[float, ...] = (0.5, 0.7, PAPER_STD_NORM_THRESHOLD, 0.95)
    rhos: tuple[float, ...] = (0.3, 0.7, 1.0)
    alphas: tuple[float, ...] = (0.1,)

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise UscdError(f"unknown measure {self.measure!r}; choose one of {', '.join(MEASURES)}")
        if not (self.thresholds and self.rhos and self.alphas):
            raise UscdError("every calibration grid axis needs at least one value")

    def methods(self) -> list[MethodSpec]:
        specs = [MethodSpec("greedy", "greedy")]
        for t, rho, alpha in itertools.product(self.thresholds, self.rhos, self.alphas):
            knobs = {"measure": self.measure, "threshold": t, "rho": rho, "alpha": alpha}
            specs.append(MethodSpec(f"uscd-{self.measure}-t{t:g}-rho{rho:g}-a{alpha:g}", "uscd", knobs))
        return specs

    def tie_break(self, point: dict) -> tuple:
        return (-point["contrast_rate"], -point["knobs"]["rho"])


@dataclass(frozen=True)
class SpaGrid:
    """SPA's anchoring strength; ties go to the omega closest to 1 (closest to greedy)."""

    rule = "spa"
    omegas: tuple[float, ...] = (1.1, 1.25, 1.5, 2.0)
    weighting: str = "none"
    mask: str = "token"

    def __post_init__(self) -> None:
        if not self.omegas:
            raise UscdError("the SPA calibration grid needs at least one omega")

    def methods(self) -> list[MethodSpec]:
        specs = [MethodSpec("greedy", "greedy")]
        for omega in self.omegas:
            knobs = {"omega": omega, "weighting": self.weighting, "mask": self.mask}
            specs.append(MethodSpec(f"spa-w{omega:g}-{self.weighting}-{self.mask}", "spa", knobs))
        return specs

    def tie_break(self, point: dict) -> tuple:
        return (-abs(point["knobs"]["omega"] - 1.0),)


def check_held_out(task: str, split: str | None) -> str:
    allowed = HELD_OUT.get(task)
    if allowed is None:
        raise UscdError(
            f"calibration needs a held-out split; {task} has none here (use mbpp --split validation)"
        )
    split = split or allowed[0]
    if split not in allowed:
        raise UscdError(
            f"refusing to calibrate on the {split} split of {task}: use one of {', '.join(allowed)}"
        )
    return split


def calibrate(settings: EvalSettings, grid: Grid | SpaGrid, *, progress: Progress | None = None) -> dict:
    """Run the grid (resumable) and return the calibration record; also written to OUT/calibration.json."""
    run = settings.run
    split = check_held_out(run.task_name, run.task_options.get("split"))
    settings = replace(
        settings,
        run=replace(run, task_options={**run.task_options, "split": split}, methods=grid.methods()),
        sampling=replace(settings.sampling, temperature=0.0, n_samples=1),
        generation=replace(settings.generation, rule_defaults={}, calibration=None),
    )
    summaries = {s["method"]: s for s in run_eval(settings, progress=progress)}
    record = selection(summaries, grid)
    if isinstance(grid, Grid):
        record["trigger_thresholds"] = trigger_thresholds(run.out, grid.measure)
    record["task"] = {
        "name": run.task_name,
        "split": split,
        "problems": summaries["greedy"]["problems_executed"],
    }
    record["model"] = model_of(run.out)
    record["prompt_style"] = settings.generation.prompt_style
    write_json_atomic(run.out / "calibration.json", record)
    return record


def selection(summaries: dict[str, dict], grid: Grid | SpaGrid) -> dict:
    points = []
    for spec in grid.methods()[1:]:
        s = summaries[spec.label]
        points.append(
            {
                "label": spec.label,
                "knobs": spec.knobs,
                "pass@1": s.get("pass@1"),
                "pass@1_ci95": s.get("pass@1_ci95"),
                "contrast_rate": s["generation"]["contrast_rate"],
                "uncertain_rate": s["generation"]["uncertain_rate"],
                "config_hash": s.get("config_hash"),
            }
        )
    best = max(points, key=lambda p: (p["pass@1"], *grid.tie_break(p)))
    ties = "lower contrast rate, then lower rho" if grid.rule == "uscd" else "omega closest to 1"
    return {
        "rule": grid.rule,
        "knobs": best["knobs"],
        "criterion": f"best pass@1 on the held-out split; ties: {ties}",
        "selected": best,
        "baseline": {"method": "greedy", "pass@1": summaries["greedy"].get("pass@1")},
        "grid": points,
    }


def trigger_thresholds(out: Path, measure: str) -> dict:
    """Thresholds at which the gate would fire on 10% / 25% of the decoding steps recorded."""
    values = sorted(
        v
        for folder in find_run_folders(out)
        if folder.read_config()["method"]["rule"] == "uscd"
        for trace in read_jsonl(folder.path / TRACES)
        for v in trace["uncertainty"]
        if v is not None
    )
    if not values:
        return {}
    gate_high_is_confident = Gate(measure, 0.0).is_uncertain(0.0)  # e.g. std-norm: low value = uncertain
    out_map = {}
    for rate in TRIGGER_TARGETS:
        q = rate if gate_high_is_confident else 1.0 - rate
        out_map[f"{rate:.2f}"] = round(values[min(int(q * len(values)), len(values) - 1)], 6)
    out_map["steps"] = len(values)
    return out_map


def model_of(out: Path) -> dict:
    configs = [f.read_config() for f in find_run_folders(out)]
    return configs[0].get("model", {}) if configs else {}
