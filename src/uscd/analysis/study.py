"""The premise study's stage driver over one committed greedy run folder.

    RUN_DIR/results.jsonl (failing samples) -> oracle per problem -> RUN_DIR/premise/oracle.jsonl
    -> RUN_DIR/premise/summary.json (uscd.analysis.stats.summarize of the lines, nothing else)

Resumable: one line per problem is appended (flushed and fsynced, a torn last line is cut on the
next open, as in run folders), and a problem that has its line is never redone, so a killed study
resumes at the next problem and ends with the same file a straight run writes. premise/config.json
holds the oracle's settings, the model and the batch size; a resume with other ones is refused.

`batch` > 1 runs the oracle of `batch` problems at once on one batched serve loop (as `--batch`
runs the branch method): while one problem's programs run in the sandbox, the others' decode. Lines
then come in completion order, and the batch's kernels round differently from one stream's, so a
committed program may re-decode differently (the oracle's "not-reproduced", or `accept_redecoded`)
and near-tie tokens of a flip's continuation may differ from run to run; `batch` 1 is bit-for-bit
reproducible.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from uscd.analysis.oracle import Judge, OracleSettings, run_oracle
from uscd.analysis.stats import summarize
from uscd.engine import BatchedDecoder, Decoder
from uscd.errors import UscdError
from uscd.run.records import key
from uscd.runs import JsonlAppender, RunFolder, read_jsonl, write_json_atomic
from uscd.tasks import Problem, Task

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


def study_record(run_config: dict, settings: OracleSettings, model: dict, batch: int = 1) -> dict:
    """What premise/config.json holds: the run studied, the model that re-decodes, the settings."""
    return {
        "decoding": {"batch": batch},
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
        old = {"decoding": {"batch": 1}, **_read_json(path)}  # studies before `batch`: one stream
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
    batch: int = 1,
    on_line: Callable[[dict], None] | None = None,
) -> dict:
    """Run the oracle on every failing problem of the run that has no line yet (`batch` problems at
    once); write the summary."""
    if batch < 1:
        raise UscdError(f"the batch size must be at least 1, got {batch}")
    folder = RunFolder(run_dir)
    config = folder.read_config()
    check_greedy_run(config, folder.path)
    failing = failing_samples(folder)[:limit]
    out = open_study(run_dir, study_record(config, settings, model, batch))
    done = {key(line) for line in read_jsonl(out / ORACLE)}
    problems = {p.task_id: p for p in task.problems()}
    todo = [s for s in failing if key(s) not in done]
    for sample in todo:
        if sample["task_id"] not in problems:
            raise UscdError(f"{sample['task_id']} is not a problem of the run's task")
    work = [(problems[s["task_id"]], s) for s in todo]
    appender = JsonlAppender(out / ORACLE)
    try:
        for line in oracle_lines(decoder, work, settings, judge, batch):
            appender.append(line)
            if on_line is not None:
                on_line(line)
    finally:
        appender.close()
    return write_summary(run_dir)


def oracle_lines(
    decoder: Decoder, work: list[tuple[Problem, dict]], settings: OracleSettings, judge: Judge, batch: int
) -> Iterator[dict]:
    """The oracle's line of each (problem, sample): in order on one stream, in completion order on
    a batched serve loop of `batch` sequences."""
    if batch == 1:
        for problem, sample in work:
            yield run_oracle(decoder, problem, sample, settings, judge)
        return
    from uscd.search.batched import on_serve_loop

    batched = BatchedDecoder(decoder.backend, batch)
    jobs = [partial(run_oracle, problem=p, sample=s, settings=settings, judge=judge) for p, s in work]
    cells = batch * 2 * decoder.backend.n_ctx  # A reads the lame prompt: two sequences per slot
    try:
        for _, line in on_serve_loop(batched, jobs, cells):
            if isinstance(line, UscdError):  # the oracle keeps a problem's own errors in its line
                raise line
            yield line
    finally:
        batched.close()


def write_summary(run_dir: Path) -> dict:
    """premise/summary.json from premise/oracle.jsonl alone."""
    path = premise_dir(run_dir) / ORACLE
    if not path.is_file():
        raise UscdError(f"{path} does not exist (run `uscd analyze premise {run_dir}` first)")
    summary = summarize(list(read_jsonl(path)))
    write_json_atomic(premise_dir(run_dir) / SUMMARY, summary)
    return summary
