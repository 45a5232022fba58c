"""The premise study's stage driver over one committed greedy run folder.

    RUN_DIR/results.jsonl (failing samples) -> oracle per problem -> RUN_DIR/premise/oracle.jsonl
    -> RUN_DIR/premise/summary.json (uscd.analysis.stats.summarize of the lines, nothing else)

Resumable: one line per problem is appended (flushed and fsynced, a torn last line is cut on the
next open, as in run folders), and a problem that has its line is never redone, so a killed study
resumes at the next problem and ends with the same file a straight run writes. premise/config.json
holds the oracle's settings and the model; a resume with other ones is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from uscd.analysis.oracle import Judge, OracleSettings, run_oracle
from uscd.analysis.stats import summarize
from uscd.engine import Decoder
from uscd.errors import UscdError
from uscd.run.records import key
from uscd.runs import JsonlAppender, RunFolder, read_jsonl, write_json_atomic
from uscd.tasks import Task

PREMISE = "premise"
ORACLE = "oracle.jsonl"
SUMMARY = "summary.json"
CONFIG = "config.json"


def premise_dir(run_dir: Path) -> Path:
    return Path(run_dir) / PREMISE


def check_greedy_run(config: dict, where: Path) -> None:
    """The study needs a greedy, completion-prompt run: its programs are what the oracle re-decodes."""
    rule = (config.get("method") or {}).get("rule")
    temperature = (config.get("sampling") or {}).get("temperature", 0.0)
    if rule not in ("greedy", "sample") or temperature != 0.0:
        raise UscdError(f"{where} is not a greedy run (rule {rule}, temperature {temperature})")
    if (config.get("prompt") or {}).get("style") == "chat":
        raise UscdError(f"{where} is a chat-mode run; the premise study reads completion prompts only")


def failing_samples(folder: RunFolder) -> list[dict]:
    """The samples whose result is not a pass, in the order of samples.jsonl."""
    results = folder.results()
    if not results:
        raise UscdError(f"{folder.path} has no results.jsonl (run `uscd evaluate {folder.path}` first)")
    failing = {key(r) for r in results if r["status"] != "pass"}
    return [s for s in folder.samples() if key(s) in failing]


def study_record(run_config: dict, settings: OracleSettings, model: dict) -> dict:
    """What premise/config.json holds: the run studied, the model that re-decodes, the settings."""
    return {
        "run": {
            "config_hash": run_config.get("config_hash"),
            "task": (run_config.get("task") or {}).get("name"),
        },
        "model": {"name": model.get("name"), "sha256": model.get("sha256")},
        "oracle": settings.record(),
    }


def open_study(run_dir: Path, record: dict) -> Path:
    """Create RUN_DIR/premise with this record, or resume one made with the same record."""
    out = premise_dir(run_dir)
    path = out / CONFIG
    if path.is_file():
        old = _read_json(path)
        if old != record:
            changed = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
            raise UscdError(
                f"{out} holds a study made with other settings ({', '.join(changed)}); move it away"
            )
        return out
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, record)
    return out


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UscdError(f"{path} is corrupt") from None


def run_study(
    run_dir: Path,
    decoder: Decoder,
    task: Task,
    settings: OracleSettings,
    judge: Judge,
    *,
    model: dict,
    limit: int | None = None,
    on_line: Callable[[dict], None] | None = None,
) -> dict:
    """Run the oracle on every failing problem of the run that has no line yet; write the summary."""
    folder = RunFolder(run_dir)
    config = folder.read_config()
    check_greedy_run(config, folder.path)
    failing = failing_samples(folder)[:limit]
    out = open_study(run_dir, study_record(config, settings, model))
    done = {key(line) for line in read_jsonl(out / ORACLE)}
    problems = {p.task_id: p for p in task.problems()}
    appender = JsonlAppender(out / ORACLE)
    try:
        for sample in failing:
            if key(sample) in done:
                continue
            if sample["task_id"] not in problems:
                raise UscdError(f"{sample['task_id']} is not a problem of the run's task")
            line = run_oracle(decoder, problems[sample["task_id"]], sample, settings, judge)
            appender.append(line)
            if on_line is not None:
                on_line(line)
    finally:
        appender.close()
    return write_summary(run_dir)


def write_summary(run_dir: Path) -> dict:
    """premise/summary.json from premise/oracle.jsonl alone."""
    path = premise_dir(run_dir) / ORACLE
    if not path.is_file():
        raise UscdError(f"{path} does not exist (run `uscd analyze premise {run_dir}` first)")
    summary = summarize(list(read_jsonl(path)))
    write_json_atomic(premise_dir(run_dir) / SUMMARY, summary)
    return summary
