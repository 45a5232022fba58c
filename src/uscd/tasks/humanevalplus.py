"""HumanEval+ (evalplus v0.1.10, 164 problems), run the simple HumanEval way.

The evalplus release files differ in their fields:
- `HumanEvalPlus-OriginFmt.jsonl.gz`: `task_id, prompt, canonical_solution, entry_point, test`
  where `test` holds the base *and* plus inputs as a HumanEval-style `check(candidate)` (it
  imports numpy). This is the default: the plus tests run with `test + check(entry_point)`.
- `HumanEvalPlus.jsonl.gz`, `-NoExtreme`: also `contract, base_input, plus_input, atol`; their
  `test` is only the original HumanEval test; the plus inputs need evalplus's own harness
  (compare against the canonical solution's outputs), which uscd does not reimplement.
- `HumanEvalPlus-Mini.jsonl.gz`: no `test` at all: refused with a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uscd.digest import sha256_file
from uscd.errors import UscdError
from uscd.prompts.lame import derive
from uscd.tasks._common import Record, Task, read_records, require, shared_file
from uscd.tasks.base import Problem
from uscd.tasks.humaneval import STOP

DEFAULT_FILE = "HumanEvalPlus-OriginFmt.jsonl.gz"
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


class HumanEvalPlusTask(Task):
    name = "humanevalplus"

    def __init__(self, *, data: str | None = None) -> None:
        super().__init__()
        self.data = data

    def options(self) -> dict[str, Any]:
        return {"data": self.data}

    def resolve_id(self, task_id: str) -> str:
        return f"HumanEval/{task_id}" if task_id.isdigit() else task_id

    def _path_to_read(self) -> Path:
        if self.data:
            return Path(self.data).expanduser()
        found = shared_file("humanevalplus", DEFAULT_FILE)
        if found is None:
            raise UscdError(
                f"HumanEval+ data not found: pass data=PATH to {DEFAULT_FILE} "
                "(evalplus/humanevalplus_release v0.1.10)"
            )
        return found

    def _load(self) -> list[Problem]:
        path = self._path_to_read()
        records = read_records(path)
        for rec in records:
            if "test" not in rec:
                raise UscdError(
                    f"{path.name} has no `test` field (the Mini file needs evalplus's harness); "
                    f"use {DEFAULT_FILE}"
                )
            require(rec, FIELDS, str(path))
        self._set_source(str(path), sha256_file(path))
        return [_problem(rec) for rec in records]


def _problem(rec: Record) -> Problem:
    prompt, entry = str(rec["prompt"]), str(rec["entry_point"])
    result = derive(prompt, "python")
    meta: dict[str, Any] = {
        "lame_source": "derived",
        "lame_removed": sorted({r.kind for r in result.removals}),
    }
    for key in ("atol", "contract"):
        if key in rec:
            meta[key] = rec[key]
    return Problem(
        task_id=str(rec["task_id"]),
        prompt=prompt,
        lame_prompt=result.lame,
        stop=STOP,
        entry_point=entry,
        program_head=prompt,
        program_tail="\n" + str(rec["test"]) + f"\ncheck({entry})\n",
        language="python",
        reference=str(rec["canonical_solution"]),
        lame_is_noop=result.is_noop,
        meta=meta,
    )
