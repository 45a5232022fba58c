"""`uscd eval TASK --check-references`: every reference solution must pass every suite of its task."""

from __future__ import annotations

import time
from typing import Any

from uscd.errors import UscdError
from uscd.execution import available_level
from uscd.run.evaluate import Sandbox, judge_all
from uscd.run.folder import check_executable
from uscd.tasks import Task


def check_references(task: Task, sandbox: Sandbox, *, limit: int | None = None) -> dict[str, Any]:
    """Run each problem's reference solution in the sandbox; name every one that fails, and why."""
    problems = [p for p in task.problems(limit) if p.reference is not None]
    if not problems:
        raise UscdError(f"{task.name} has no reference solutions")
    check_executable(problems)
    start = time.perf_counter()
    jobs = ((p.task_id, p, p.prompt + p.reference) for p in problems if p.reference is not None)
    failures = {
        task_id: f"{fields['status']}: {fields['reason']}"
        for task_id, fields in judge_all(jobs, sandbox)
        if fields["status"] != "pass"
    }
    return {
        "task": task.name,
        "problems": len(problems),
        "passed": len(problems) - len(failures),
        "failures": dict(sorted(failures.items())),
        "level": available_level(sandbox.level),
        "wall_s": round(time.perf_counter() - start, 2),
    }
