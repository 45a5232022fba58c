"""Run a candidate solution against the prompt's example checks, in the sandbox.

A Python program is the solution (as a string) + the harness (`_harness.py`, which never runs
outside the sandbox) + the checks as JSON; uscd.execution runs it. A MultiPL-E solution's checks
run as one program of its language in MultiPL-E's test style (uscd.search.frames), all or none.
The Python harness reports one line on stdout, behind a marker drawn fresh for every program, with
each check's verdict; a program that dies before it reports (killed, out of time, out of memory)
fails every check.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from uscd.execution import Limits, run_program
from uscd.execution.parallel import default_workers, map_unordered
from uscd.execution.sandbox import available_level
from uscd.prompts.examples import Check

PER_CHECK_S = 3.0  # one check's time; the program's wall clock grows with the number of checks


@dataclass(frozen=True)
class CheckRun:
    """The verdict of every check on one solution (in the checks' order)."""

    passed: tuple[bool, ...]
    details: tuple[str, ...]  # why a check failed ("" for a pass)
    status: str  # the sandbox's status of the harness program itself
    reason: str  # the sandbox's reason when the program did not report
    duration_s: float

    @property
    def n_passed(self) -> int:
        return sum(self.passed)

    @property
    def all_passed(self) -> bool:
        return bool(self.passed) and all(self.passed)

    def to_dict(self) -> dict:
        return {
            "passed": self.n_passed,
            "checks": len(self.passed),
            "verdicts": "".join("1" if ok else "0" for ok in self.passed),
            "details": [d for d in self.details if d][:5],
            "status": self.status,
            "duration_s": round(self.duration_s, 4),
        }


@cache
def _harness_source() -> str:
    return Path(__file__).with_name("_harness.py").read_text(encoding="utf-8")


def check_program(solution: str, checks: Sequence[Check], marker: str, per_check_s: float) -> str:
    """The program that runs `checks` on `solution` and reports behind `marker`."""
    payload = [c.to_dict() for c in checks]
    call = (
        f"_uscd_main({solution!r}, _uscd_json.loads({json.dumps(payload)!r}), {marker!r}, {per_check_s!r})\n"
    )
    return _harness_source() + "\n\n" + call


def limits_for(n_checks: int, per_check_s: float) -> Limits:
    wall = per_check_s * (n_checks + 1) + 2.0
    return Limits(wall_s=wall, cpu_s=max(1, int(wall) + 1))


def read_report(result, marker: str, n_checks: int) -> CheckRun:
    """The harness's verdicts from a finished program; every check failed when it did not report."""
    for line in reversed(result.stdout_tail.splitlines()):
        if line.startswith(marker):
            rows = _rows(line[len(marker) :], n_checks)
            if rows is not None:
                passed, details = zip(*rows, strict=True) if rows else ((), ())
                return CheckRun(tuple(passed), tuple(details), result.status, "", result.duration_s)
    reason = result.reason or result.status
    return CheckRun((False,) * n_checks, (reason,) * n_checks, result.status, reason, result.duration_s)


def _rows(text: str, n_checks: int) -> list[tuple[bool, str]] | None:
    try:
        rows = json.loads(text)
    except ValueError:
        return None
    ok = isinstance(rows, list) and len(rows) == n_checks
    ok = ok and all(isinstance(r, list) and len(r) == 2 and isinstance(r[0], bool) for r in rows)
    return [(r[0], str(r[1])) for r in rows] if ok else None


def run_checks(
    solution: str, checks: Sequence[Check], *, level: str = "auto", per_check_s: float = PER_CHECK_S
) -> CheckRun:
    """Run `checks` on `solution` in the sandbox (in the checks' language: Python or MultiPL-E's)."""
    language = checks[0].language if checks else "python"
    if language != "python":
        return run_framed_checks(solution, checks, language, level=level, per_check_s=per_check_s)
    marker = "USCD-CHECKS-" + secrets.token_hex(12) + ":"
    program = check_program(solution, checks, marker, per_check_s)
    result = run_program(program, limits=limits_for(len(checks), per_check_s), level=level)
    return read_report(result, marker, len(checks))


def run_framed_checks(
    solution: str, checks: Sequence[Check], language: str, *, level: str, per_check_s: float
) -> CheckRun:
    """A MultiPL-E solution's checks as one program of its language (uscd.search.frames): the
    language's runner says pass or fail for the whole program, so every check shares its verdict."""
    from uscd.search.frames import check_program

    program = check_program(solution, checks, language)
    result = run_program(program, language=language, limits=limits_for(len(checks), per_check_s), level=level)
    detail = "" if result.passed else (result.reason or result.status)
    n = len(checks)
    return CheckRun((result.passed,) * n, (detail,) * n, result.status, detail, result.duration_s)


def run_checks_many(
    items: Iterable[tuple[object, str, Sequence[Check]]],
    *,
    workers: int | None = None,
    level: str = "auto",
    per_check_s: float = PER_CHECK_S,
) -> Iterator[tuple[object, CheckRun]]:
    """(key, CheckRun) for (key, solution, checks) items, in completion order, across cores."""
    resolved = available_level(level)

    def one(item: tuple[str, Sequence[Check]]) -> CheckRun:
        return run_checks(item[0], item[1], level=resolved, per_check_s=per_check_s)

    pairs = ((key, (solution, checks)) for key, solution, checks in items)
    yield from map_unordered(one, pairs, workers or default_workers())
