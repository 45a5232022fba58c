"""The evaluation stage of a run folder: execute every sample that has no result yet, summarise.

`uscd eval` runs it right after its generation stage; `uscd evaluate DIR` runs it alone (after
`--generation-only`, or to finish an interrupted run).
"""

from __future__ import annotations

from typing import Any

from uscd.errors import UscdError
from uscd.run.evaluate import Sandbox, judge_all
from uscd.run.progress import Progress, Silent
from uscd.run.records import key, result_record
from uscd.runs import RESULTS, RunFolder
from uscd.summary import summarize
from uscd.tasks import Problem, Task


def check_executable(problems: list[Problem]) -> None:
    """Every language of `problems` can run here; else one line naming what to install (uscd doctor)."""
    from uscd.execution import languages

    for language in sorted({p.language for p in problems if p.language != "python"}):
        languages.require(language)


def task_of_run(config: dict) -> Task:
    """The task a run folder was made with, read again; refused if the dataset file changed."""
    from uscd.tasks import get_task

    task_cfg = config["task"]
    options = {k: v for k, v in task_cfg.get("options", {}).items() if v is not None and k != "layout"}
    if config.get("dataset_location") and "data" in options:
        options["data"] = config["dataset_location"]
    task = get_task(task_cfg["name"], **options)
    if task.dataset_sha256 != task_cfg.get("dataset_sha256"):
        raise UscdError(f"the dataset now reads {task.dataset_path} with another sha256 than the run used")
    return task


def problems_of_run(config: dict, task: Task) -> dict[str, Problem]:
    """The run's problems by task_id, as it asked them (chat runs are judged on each reply's code)."""
    by_id = {p.task_id: p for p in task.problems()}
    if (config.get("prompt") or {}).get("style") == "chat":
        from uscd.prompts.chat import as_chat, reply_prefix

        by_id = {t: as_chat(p, reply_prefix(p.language)) for t, p in by_id.items()}
    return by_id


def finish(folder: RunFolder) -> dict[str, Any]:
    summary = summarize(folder.read_config(), folder.samples(), folder.results())
    folder.write_summary(summary)
    return summary


def evaluate_run(
    folder: RunFolder,
    sandbox: Sandbox,
    *,
    task: Task | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Execute the samples of `folder` that have no result yet; write and return its summary."""
    progress = progress or Silent()
    config = folder.read_config()
    try:
        task = task or task_of_run(config)
    except UscdError as exc:
        raise UscdError(f"{folder.path}: {exc}") from None
    by_id = problems_of_run(config, task)
    check_executable(list(by_id.values()))
    results = folder.results()
    done = {key(r) for r in results}
    pending = [s for s in folder.samples() if key(s) not in done and s["task_id"] in by_id]
    label = f"evaluate {config.get('method', {}).get('label', folder.path.name)}"
    progress.start(
        label, len(done) + len(pending), len(done), sum(r["status"] == "pass" for r in results), len(done)
    )
    jobs = ((key(s), by_id[s["task_id"]], by_id[s["task_id"]].solution(s["completion"])) for s in pending)
    try:
        for (task_id, index), fields in judge_all(jobs, sandbox):
            folder.append(RESULTS, result_record(task_id, index, fields))
            progress.advance(fields["status"] == "pass")
    finally:
        folder.close()
    return finish(folder)
