"""Run folders in, runs out: loading, grouping by task and model, and display names."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from uscd.errors import UscdError
from uscd.report.data import Group, Run
from uscd.runs import RunFolder, find_run_folders
from uscd.summary import per_problem_counts, summarize


def load_run(folder: RunFolder) -> Run:
    config = folder.read_config()
    if not isinstance(config.get("task"), dict) or not config["task"].get("name"):
        raise UscdError(f"{folder.path}/config.json names no task; is it a run folder of `uscd eval`?")
    samples, results = folder.samples(), folder.results()
    if not results:
        raise UscdError(f"{folder.path}: not evaluated: run `uscd evaluate {folder.path}`")
    summary = summarize(config, samples, results)
    return Run(folder, config, samples, results, summary, per_problem_counts(results))


def load_runs(paths: list[Path]) -> list[Run]:
    if not paths:
        raise UscdError("no run folder given")
    seen: dict[Path, RunFolder] = {}
    for path in paths:
        for folder in find_run_folders(Path(path)):
            seen.setdefault(folder.path.resolve(), folder)
    return [load_run(f) for f in seen.values()]


def natural_key(text: str) -> list:
    """HumanEval/2 before HumanEval/10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def group_runs(runs: list[Run], baseline: str) -> list[Group]:
    """One group per task and model; never pair or plot across groups."""
    by_key: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.group_key, []).append(run)
    groups, ids = [], Counter()
    for (task, model, sha), members in sorted(by_key.items()):
        gid = slug(f"{task}_{model}")
        ids[gid] += 1
        if ids[gid] > 1:
            gid = f"{gid}_{slug((sha or str(ids[gid]))[:8])}"
        name_runs(members)
        members.sort(key=lambda r: (r.label != baseline, natural_key(r.name), r.path))
        groups.append(Group(gid, task, model, sha or None, members))
    return groups


def name_runs(runs: list[Run]) -> None:
    """Display names: the method label, with the parent folder (or path) where labels repeat."""
    labels = Counter(r.label for r in runs)
    for run in runs:
        run.name = run.label if labels[run.label] == 1 else f"{run.label} ({run.folder.path.parent.name})"
    names = Counter(r.name for r in runs)
    for run in runs:
        if names[run.name] > 1:
            run.name = f"{run.label} ({run.path})"
