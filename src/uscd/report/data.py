"""The report's data: loaded runs, their task/model groups, and the figures to draw.

Everything the renderers read is built from these by `uscd.report.build` as plain JSON-able
dicts (report.json is exactly that dict); these classes only carry what the builders need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uscd.runs import RunFolder

FORMAT_VERSION = 1
ALPHA = 0.05
BOOTSTRAP_SEED = 0
TRACE_CASES = 3  # problems per direction (fixed / broken) in the uncertainty-trace figures
STATUSES = ("pass", "fail", "timeout", "error")
# results rows of HumanEval+/MBPP+ runs also say whether the base tests and the plus (base and
# extra) tests passed: `base_passed`, `plus_passed`
SUITE_OUTCOMES = ("base", "plus")
# a run folder scored on the held-out tests (scripts/heldout_eval.py score, uscd.run.heldout.RESULTS)
HELDOUT = "heldout"
HELDOUT_RESULTS = "heldout_results.jsonl"
EXTRA_OUTCOMES = (*SUITE_OUTCOMES, HELDOUT)
OUTCOME_TITLES = {"base": "base tests", "plus": "plus tests", HELDOUT: "held-out tests"}
COMPLETION = "completion"  # the prompt style of runs whose config names none
FORMATS = ("md", "json", "html")


def r6(x: float | None) -> float | None:
    """Floats are rounded before they are written, so the same runs always give the same bytes."""
    return None if x is None else round(float(x), 6)


@dataclass
class Run:
    folder: RunFolder
    config: dict
    samples: list[dict]
    results: list[dict]
    summary: dict
    counts: dict[str, tuple[int, int]]
    # "base"/"plus" -> task_id -> (samples, passed), for the outcomes the results rows carry
    extra_counts: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    # what the run's summary says went wrong in its environment (e.g. most programs did not compile)
    environment_flags: list[str] = field(default_factory=list)
    name: str = ""
    prompt_style: str = COMPLETION  # "chat" runs are never grouped or paired with completion runs
    _passed: dict[tuple[str, int], bool] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> str:
        return str(self.folder.path)

    @property
    def label(self) -> str:
        return str(self.config.get("method", {}).get("label") or self.folder.path.name)

    @property
    def task(self) -> str:
        return str(self.config.get("task", {}).get("name"))

    @property
    def dataset_sha(self) -> str | None:
        return self.config.get("task", {}).get("dataset_sha256")

    @property
    def model_config(self) -> dict:
        """The model that generated the samples; a re-scored run (`uscd evaluate --samples`) names it
        in `source_run`."""
        return self.config.get("model") or self.config.get("source_run", {}).get("model") or {}

    @property
    def model(self) -> str:
        return str(self.model_config.get("name") or "unknown model")

    @property
    def model_sha(self) -> str | None:
        return self.model_config.get("sha256")

    @property
    def n_samples(self) -> int:
        return int(self.sampling.get("n_samples") or 1)

    @property
    def sampling(self) -> dict:
        """How the samples were drawn (for a re-scored run: its source run's `sampling`)."""
        return self.config.get("sampling") or self.config.get("source_run", {}).get("sampling") or {}

    @property
    def group_key(self) -> tuple[str, str, str, str]:
        return self.task, self.prompt_style, self.model, self.model_sha or ""

    def passed(self, task_id: str, index: int) -> bool | None:
        if not self._passed:
            self._passed = {(r["task_id"], int(r["sample_idx"])): r["status"] == "pass" for r in self.results}
        return self._passed.get((task_id, index))


@dataclass
class Group:
    id: str
    task: str
    model: str
    model_sha: str | None
    runs: list[Run]
    comparisons: list[dict] = field(default_factory=list)
    prompt_style: str = COMPLETION

    @property
    def title(self) -> str:
        return group_title(self.task, self.prompt_style, self.model)


def task_text(task: str, prompt_style: str | None) -> str:
    """The task as the report names it: `humaneval`, or `humaneval (chat)` for chat-mode runs."""
    return task if prompt_style in (None, COMPLETION) else f"{task} ({prompt_style})"


def group_title(task: str, prompt_style: str | None, model: str) -> str:
    return f"{task_text(task, prompt_style)} · {model}"


@dataclass
class TraceCase:
    """One sample's per-step trace, as the trace figure wants it."""

    title: str
    uncertainty: list[float | None]
    contrast: list[bool]
    changed: list[tuple[int, str, str]]  # step, chosen text, greedy text
    end_step: int | None  # first step past the completion (the trace runs on to the stop check)


@dataclass
class PlotSpec:
    name: str
    kind: str  # pass1 | calibration | traces | languages
    title: str
    data: Any


@dataclass
class Report:
    data: dict
    groups: list[Group]
    plots: list[PlotSpec]
