"""Run folders in, runs out: loading, grouping by task, prompt style and model, and display names."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from uscd.errors import UscdError
from uscd.report.data import COMPLETION, HELDOUT, HELDOUT_RESULTS, SUITE_OUTCOMES, Group, Run
from uscd.runs import CONFIG, SUMMARY, RunFolder, find_run_folders, read_jsonl
from uscd.summary import per_problem_counts, summarize, unique


def load_run(folder: RunFolder) -> Run:
    config = folder.read_config()
    if not isinstance(config.get("task"), dict) or not config["task"].get("name"):
        raise UscdError(f"{folder.path}/config.json names no task; is it a run folder of `uscd eval`?")
    samples, results = folder.samples(), folder.results()
    if not results:
        raise UscdError(f"{folder.path}: not evaluated: run `uscd evaluate {folder.path}`")
    summary = summarize(config, samples, results)
    extra = {name: counts for name in SUITE_OUTCOMES if (counts := outcome_counts(results, f"{name}_passed"))}
    if held_out := held_out_counts(folder):
        extra[HELDOUT] = held_out
    flags = environment_flags(read_summary(folder), summary)
    run = Run(folder, config, samples, results, summary, per_problem_counts(results), extra, flags)
    run.prompt_style = prompt_style(config)
    return run


def held_out_counts(folder: RunFolder) -> dict[str, tuple[int, int]]:
    """task_id -> (samples, passed) on the held-out tests, where the folder was scored on them."""
    return per_problem_counts(list(read_jsonl(folder.path / HELDOUT_RESULTS)))


def prompt_style(config: dict) -> str:
    """`chat` or `completion`. A re-scored run (`uscd evaluate --samples`) takes its source run's:
    from `source_run`, or else from the source run folder's config.json beside the samples file."""
    for recorded in (config, config.get("source_run") or {}, source_config(config)):
        if style := (recorded.get("prompt") or {}).get("style"):
            return str(style)
    return COMPLETION


def source_config(config: dict) -> dict:
    """The config.json of the run folder whose samples.jsonl a re-scored run scored ({} if not found)."""
    samples = (config.get("samples_file") or {}).get("path")
    path = Path(samples).parent / CONFIG if samples else None
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def outcome_counts(results: list[dict], key: str) -> dict[str, tuple[int, int]]:
    """task_id -> (samples, passed) by one boolean field of the results rows (rows without it skipped)."""
    n: dict[str, int] = defaultdict(int)
    c: dict[str, int] = defaultdict(int)
    for r in unique(results):
        if key in r:
            n[r["task_id"]] += 1
            c[r["task_id"]] += bool(r[key])
    return {t: (n[t], c[t]) for t in n}


def read_summary(folder: RunFolder) -> dict:
    """The run's summary.json as `uscd eval` wrote it ({} when there is none)."""
    path = folder.path / SUMMARY
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UscdError(f"{path} is corrupt; rewrite it with `uscd evaluate {folder.path}`") from None
    return data if isinstance(data, dict) else {}


def environment_flags(*summaries: dict) -> list[str]:
    """The `environment_flags` of summary.json and of the recomputed summary, each once, in order."""
    flags: list[str] = []
    for summary in summaries:
        for flag in summary.get("environment_flags") or []:
            if (text := flag_text(flag)) not in flags:
                flags.append(text)
    return flags


def flag_text(flag: Any) -> str:
    """A flag is a sentence, or an object with a `message` (other fields are spelled out otherwise)."""
    if isinstance(flag, dict):
        return str(flag.get("message") or "; ".join(f"{k}: {v}" for k, v in sorted(flag.items())))
    return str(flag)


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
    """One group per task, prompt style and model; never pair or plot across groups."""
    by_key: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.group_key, []).append(run)
    groups, ids = [], Counter()
    for (task, style, model, sha), members in sorted(by_key.items(), key=completion_first):
        gid = slug(f"{task}_{model}" if style == COMPLETION else f"{task}-{style}_{model}")
        ids[gid] += 1
        if ids[gid] > 1:
            gid = f"{gid}_{slug((sha or str(ids[gid]))[:8])}"
        name_runs(members)
        members.sort(key=lambda r: (r.label != baseline, natural_key(r.name), r.path))
        groups.append(Group(gid, task, model, sha or None, members, prompt_style=style))
    return groups


def completion_first(item: tuple[tuple[str, str, str, str], list[Run]]) -> tuple:
    """Groups by task; a task's completion-prompt group before its chat group."""
    task, style, model, sha = item[0]
    return task, style != COMPLETION, style, model, sha


def name_runs(runs: list[Run]) -> None:
    """Display names: the method label, with the parent folder where labels repeat — or the run's own
    folder name where they share a parent (`greedy (greedy-mbpp-prompts)`), else the path."""
    labels = Counter(r.label for r in runs)
    for run in runs:
        run.name = run.label if labels[run.label] == 1 else f"{run.label} ({run.folder.path.parent.name})"
    for where in (lambda r: r.folder.path.name, lambda r: r.path):
        names = Counter(r.name for r in runs)
        for run in runs:
            if names[run.name] > 1:
                run.name = f"{run.label} ({where(run)})"
