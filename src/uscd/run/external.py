"""`uscd evaluate --task TASK --samples FILE --out DIR`: score another tool's samples.

DIR/results.jsonl gets one row per scored sample, in input order (results are executed in
parallel and written in order, each appended and fsynced); DIR/summary.json the pass@k (and, for
HumanEval+/MBPP+, base and plus side by side) and every skipped row with its line number.
DIR/config.json pins the task and the samples file: running the same command again resumes,
another file or task in the same DIR is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from uscd import __version__
from uscd.digest import sha256_file
from uscd.errors import UscdError
from uscd.run.evaluate import Sandbox, in_order, judge_all
from uscd.run.folder import check_executable
from uscd.run.progress import Progress, Silent
from uscd.run.samples_file import BadRow, Sample, read_samples
from uscd.run.settings import recorded
from uscd.run.versions import versions
from uscd.runs import CONFIG, RESULTS, SAMPLES, RunFolder
from uscd.summary import summarize
from uscd.tasks import Task

SOURCE_KEYS = (
    "config_hash", "task", "method", "model", "backend", "generation", "sampling", "calibration", "prompt",
)  # fmt: skip


def source_run(samples_path: Path) -> dict[str, Any] | None:
    """What generated the samples, when the file is a uscd run folder's samples.jsonl."""
    config = samples_path.parent / CONFIG
    if samples_path.name != SAMPLES or not config.is_file():
        return None
    try:
        recorded = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return {k: recorded[k] for k in SOURCE_KEYS if k in recorded}


def file_config(task: Task, samples_path: Path, sandbox: Sandbox) -> dict[str, Any]:
    task_cfg = task.config()
    config: dict[str, Any] = {
        "uscd_version": __version__,
        "kind": "samples-file",
        "task": {k: v for k, v in task_cfg.items() if k != "dataset_path"},
        "dataset_location": task_cfg.get("dataset_path"),
        "samples_file": {"path": str(samples_path), "sha256": sha256_file(samples_path)},
        "sandbox_limits": recorded(sandbox),
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if source := source_run(samples_path):
        # re-scored samples of a uscd run (e.g. HumanEval greedy on HumanEval+): say whose
        config["source_run"] = source
        config["method"] = source.get("method")
    return config


def result_row(sample: Sample, problem_prompt: str, fields: dict[str, Any]) -> dict[str, Any]:
    completion, scored = sample.completion, "completion"
    if sample.solution is not None:
        scored = "solution"
        given = sample.solution
        completion = given[len(problem_prompt) :] if given.startswith(problem_prompt) else given
    return {
        "line": sample.line,
        "item": sample.item,
        "task_id": sample.task_id,
        "sample_idx": sample.sample_idx,
        "scored": scored,
        "completion": completion,
        "passed": fields["status"] == "pass",
        **fields,
    }


def evaluate_samples_file(
    task: Task,
    samples_path: Path,
    out: Path,
    sandbox: Sandbox,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score every sample of `samples_path` against `task` into `out`; return the summary."""
    progress = progress or Silent()
    samples_path = Path(samples_path)
    samples, bad = read_samples(samples_path, task)
    for row in bad:
        progress.warn(f"{samples_path} line {row.line}: {row.reason}; skipped")
    if not samples:
        raise UscdError(f"{samples_path} holds no sample that can be scored ({len(bad)} rows skipped)")
    check_executable([task.problem(s.task_id) for s in samples[:1]])
    folder = RunFolder(out)
    config = folder.open(file_config(task, samples_path, sandbox))
    try:
        _score(task, samples, folder, sandbox, progress)
    finally:
        folder.close()
    return _finish(folder, config, samples, bad)


def _score(task: Task, samples: list[Sample], folder: RunFolder, sandbox: Sandbox, progress: Progress):
    done = {(int(r["line"]), int(r["item"])) for r in folder.results()}
    todo = [s for s in samples if s.key not in done]
    passed = sum(bool(r.get("passed")) for r in folder.results())
    progress.start(f"evaluate {task.name}", len(samples), len(samples) - len(todo), passed, len(done))
    by_key = {s.key: s for s in todo}
    problems = {s.task_id: task.problem(s.task_id) for s in todo}
    jobs = ((s.key, problems[s.task_id], s.program_text(problems[s.task_id])) for s in todo)
    for k, fields in in_order(judge_all(jobs, sandbox), [s.key for s in todo]):
        sample = by_key[k]
        folder.append(RESULTS, result_row(sample, problems[sample.task_id].prompt, fields))
        progress.advance(fields["status"] == "pass")


def _finish(folder: RunFolder, config: dict, samples: list[Sample], bad: list[BadRow]) -> dict[str, Any]:
    results = folder.results()
    scored = [{"task_id": s.task_id, "sample_idx": s.sample_idx} for s in samples]
    summary = summarize(config, scored, results)
    summary["input"] = {
        "samples_file": config["samples_file"]["path"],
        "rows_skipped": [{"line": b.line, "reason": b.reason} for b in bad],
        "samples": len(samples),
    }
    folder.write_summary(summary)
    return summary
