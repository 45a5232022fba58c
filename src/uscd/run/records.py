"""The JSON records a run writes: samples, traces, and execution results (one per sample)."""

from __future__ import annotations

from typing import Any

from uscd.execution import ExecResult
from uscd.tasks import Problem

STDERR_KEPT = 600  # characters of a failing program's stderr kept in its result record
SUITE_TIMEOUT = "SuiteTimeout:"  # a suite's own time budget ran out (evalplus harness): a timeout


def key(record: dict) -> tuple[str, int]:
    return record["task_id"], int(record["sample_idx"])


def sample_record(problem: Problem, index: int, seed: int | None, gen) -> dict:
    record = {
        "task_id": problem.task_id,
        "sample_idx": index,
        "completion": gen.completion,
        "solution": problem.solution(gen.completion),
        "finish_reason": gen.finish_reason,
        "seed": seed,
        "stats": gen.stats(),
    }
    if problem.is_chat:  # the reply as the model wrote it; "solution" holds its code
        record["reply"] = (problem.reply_prefix or "") + gen.completion
    return record


def error_sample(problem: Problem, index: int, message: str) -> dict:
    return {
        "task_id": problem.task_id,
        "sample_idx": index,
        "completion": "",
        "solution": problem.solution(""),
        "finish_reason": "error",
        "error": message,
        "stats": {},
    }


def trace_record(problem: Problem, index: int, gen) -> dict:
    t = gen.trace
    return {
        "task_id": problem.task_id,
        "sample_idx": index,
        "tokens": [x.token for x in t],
        "text": [x.text for x in t],
        "greedy": [x.greedy_token for x in t],
        "greedy_text": [x.greedy_text if x.changed else "" for x in t],
        "uncertainty": [x.uncertainty for x in t],
        "uncertain": "".join("1" if x.uncertain else "0" for x in t),
        "contrast": "".join("1" if x.contrast else "0" for x in t),
        "fallback": "".join("1" if x.fallback else "0" for x in t),
        "head_size": [x.head_size for x in t],
        # the branch method: A's checks and every branch tried (step, token, checks, kept/dropped)
        **({"search": gen.search} if getattr(gen, "search", None) is not None else {}),
    }


def suite_status(result: ExecResult) -> str:
    if result.status == "fail" and result.reason.startswith(SUITE_TIMEOUT):
        return "timeout"
    return result.status


def result_fields(outcomes: dict[str, ExecResult]) -> dict[str, Any]:
    """One sample's verdict from its suites' results (suite name -> result, in run order).

    A sample passes when every suite passes; otherwise status, reason and stderr are the first
    failing suite's. With more than one suite, each also gets `<suite>_passed` and `<suite>_status`.
    """
    failing = next((name for name, res in outcomes.items() if not res.passed), None)
    shown = outcomes[failing] if failing else list(outcomes.values())[-1]
    several = len(outcomes) > 1
    fields: dict[str, Any] = {
        "status": suite_status(shown),
        "reason": f"{failing}: {shown.reason}" if several and failing else shown.reason,
        "duration_s": round(sum(res.duration_s for res in outcomes.values()), 4),
        "level": shown.level,
        "exit_code": shown.exit_code,
        "stderr_tail": shown.stderr_tail[-STDERR_KEPT:],
        # "compile": the compile step failed or timed out, the program never ran
        **({"phase": shown.phase} if shown.phase != "run" else {}),
    }
    if several:
        for name, res in outcomes.items():
            fields[f"{name}_passed"] = res.passed
            fields[f"{name}_status"] = suite_status(res)
    return fields


def result_record(task_id: str, index: int, fields: dict[str, Any]) -> dict:
    return {"task_id": task_id, "sample_idx": index, **fields}
