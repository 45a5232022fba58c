"""Samples written by any tool, read row by row: what to score, and which rows cannot be scored.

Accepted rows (JSONL, optionally gzipped, or a JSON array of objects); fields not named here are
ignored:
- MultiPL-E / bigcode style: `name` or `task_id`, and `completion` (a string, or a list of them)
  or `completions` (a list);
- evalplus style: `task_id` and `solution` (prompt + completion, scored exactly as given; when a
  row has both, `solution` wins, as in evalplus).
A row that cannot be scored (not JSON, not an object, no id, an id the task does not know, no
code) is reported with its line number and skipped.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uscd.errors import UscdError
from uscd.tasks import Problem, Task


@dataclass(frozen=True)
class Sample:
    """One program to score; `line` is the input line (or array position), `item` its index in
    that line's list of completions (0 for a single one)."""

    line: int
    item: int
    task_id: str
    sample_idx: int  # per task, in input order
    completion: str | None
    solution: str | None

    @property
    def key(self) -> tuple[int, int]:
        return self.line, self.item

    def program_text(self, problem: Problem) -> str:
        """The whole solution: as given, or the problem's prompt + the completion."""
        return self.solution if self.solution is not None else problem.solution(self.completion or "")


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


def read_rows(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON or the JSONDecodeError) for every non-blank line or array item."""
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode("utf-8")
    except FileNotFoundError:
        raise UscdError(f"samples file {path} does not exist") from None
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise UscdError(f"cannot read samples file {path}: {type(exc).__name__}: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            return list(enumerate(json.loads(text), 1))
        except json.JSONDecodeError as exc:
            raise UscdError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    rows: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append((lineno, exc))
    return rows


def row_codes(row: Any) -> tuple[str, list[str | None], list[str | None]] | str:
    """(id, completions, solutions) of one row, or why it cannot be scored."""
    if isinstance(row, json.JSONDecodeError):
        return f"not valid JSON ({row.msg})"
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    ident = row.get("task_id", row.get("name"))
    if not isinstance(ident, str | int) or isinstance(ident, bool) or str(ident).strip() == "":
        return "no task_id or name"
    if isinstance(row.get("solution"), str):
        return str(ident), [None], [row["solution"]]
    codes = row.get("completion", row.get("completions"))
    if isinstance(codes, str):
        codes = [codes]
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        return "no completion, completions or solution (a string, or a non-empty list of strings)"
    return str(ident), list(codes), [None] * len(codes)


def read_samples(path: Path, task: Task) -> tuple[list[Sample], list[BadRow]]:
    """Every scorable sample in input order, and every row that was skipped, with its reason."""
    samples: list[Sample] = []
    bad: list[BadRow] = []
    counts: dict[str, int] = defaultdict(int)
    for line, row in read_rows(Path(path)):
        parsed = row_codes(row)
        if isinstance(parsed, str):
            bad.append(BadRow(line, parsed))
            continue
        ident, completions, solutions = parsed
        try:
            task_id = task.problem(ident).task_id
        except UscdError:
            bad.append(BadRow(line, f"unknown task id {ident!r} for {task.name}"))
            continue
        for item, (completion, solution) in enumerate(zip(completions, solutions, strict=True)):
            samples.append(Sample(line, item, task_id, counts[task_id], completion, solution))
            counts[task_id] += 1
    return samples, bad
