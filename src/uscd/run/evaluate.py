"""The evaluation stage: solutions in, one verdict per sample out, every suite of its problem run.

Every program goes through `uscd.execution.run_program(program, language=problem.language, ...)`,
so a task in any language the sandbox supports is judged by the same code, whether the samples
come from `uscd eval`'s generation stage (a run folder) or from another tool (`uscd evaluate
--samples`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from uscd.execution import Limits, available_level, default_workers, run_program
from uscd.execution.parallel import map_unordered
from uscd.run.records import result_fields
from uscd.tasks import Problem

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Sandbox:
    """How programs are executed: seconds per program, isolation level, parallel programs."""

    timeout_s: float = field(default=10.0, metadata={"recorded": True})  # in the run config
    level: str = "auto"
    workers: int | None = None


def sandbox_limits(timeout_s: float, budget_s: float | None = None, memory_mb: int | None = None) -> Limits:
    """The limits of one program: `timeout_s` (plus a suite's own time budget, when it has one)."""
    wall = timeout_s + (budget_s or 0.0)
    memory = {} if memory_mb is None else {"address_space_mb": memory_mb}
    return Limits(wall_s=wall, cpu_s=max(1, int(wall)), **memory)


def judge(problem: Problem, solution: str, timeout_s: float, level: str) -> dict[str, Any]:
    """Run every test suite of `problem` on `solution` (prompt + completion); the result fields."""
    outcomes = {}
    for suite in problem.suites():
        outcomes[suite.name] = run_program(
            suite.program(solution),
            language=problem.language,
            limits=sandbox_limits(timeout_s, suite.budget_s, suite.memory_mb),
            level=level,
        )
    return result_fields(outcomes)


def judge_all(jobs: Iterable[tuple[K, Problem, str]], sandbox: Sandbox) -> Iterator[tuple[K, dict[str, Any]]]:
    """(key, problem, solution) in, (key, result fields) out in completion order, in parallel.

    Jobs are pulled lazily (at most 2 x workers in flight); a consumer that stops early cancels
    what has not started. Threads suffice: each program is a child process.
    """
    level = available_level(sandbox.level)  # probe (and warn) once, before any thread starts

    def run(job: tuple[Problem, str]) -> dict[str, Any]:
        problem, solution = job
        return judge(problem, solution, sandbox.timeout_s, level)

    items = ((k, (problem, solution)) for k, problem, solution in jobs)
    yield from map_unordered(run, items, sandbox.workers or default_workers())


def in_order(results: Iterable[tuple[K, Any]], order: Sequence[K]) -> Iterator[tuple[K, Any]]:
    """Results arriving in any order, released in `order` as soon as all before them are in."""
    position = {k: i for i, k in enumerate(order)}
    waiting: dict[int, tuple[K, Any]] = {}
    next_up = 0
    for k, value in results:
        waiting[position[k]] = (k, value)
        while next_up in waiting:
            yield waiting.pop(next_up)
            next_up += 1
