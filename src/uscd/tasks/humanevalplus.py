"""HumanEval+ (evalplus v0.1.10, 164 problems): base and plus inputs, judged the evalplus way.

Data: `HumanEvalPlus.jsonl.gz` (what evalplus 0.3.1 downloads; default: the developers' shared
copy), or `-Mini` / `-NoExtreme` via `data=PATH`. They carry `base_input, plus_input, atol` and the
canonical solution; each sample runs two suites (see `uscd.tasks._plus`): "base" (the original
HumanEval inputs) and "plus" (evalplus's extra inputs). `-OriginFmt` has neither (its `test` mixes
both) and is refused with a pointer to the right file.

Prompts are HumanEval's; v0.1.10 changed one (HumanEval/115 moves `import math` above the
function, as evalplus's own loader does), so completions of the HumanEval prompts are scored as
solutions of those prompts (`solution` = HumanEval prompt + completion) when a run is re-scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uscd.digest import sha256_file
from uscd.errors import UscdError
from uscd.prompts.lame import derive
from uscd.tasks._common import Record, Task, read_records, shared_file
from uscd.tasks._plus import FIELDS, check_record, plus_suites, suite_meta
from uscd.tasks.base import Problem
from uscd.tasks.humaneval import STOP

DEFAULT_FILE = "HumanEvalPlus.jsonl.gz"


class HumanEvalPlusTask(Task):
    name = "humanevalplus"
    prompt_version = "2"  # 2: evalplus base + plus suites (1 ran OriginFmt's combined `test`)

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
            if "base_input" not in rec or "plus_input" not in rec:
                raise UscdError(
                    f"{path.name} has no base_input/plus_input (evalplus's -OriginFmt file cannot "
                    f"be split into base and plus tests); use {DEFAULT_FILE}"
                )
            check_record(rec, str(path))
        self._set_source(str(path), sha256_file(path))
        return [_problem(rec) for rec in records]


def _problem(rec: Record) -> Problem:
    prompt, entry = str(rec["prompt"]), str(rec["entry_point"])
    result = derive(prompt, "python")
    meta: dict[str, Any] = {
        "lame_source": "derived",
        "lame_removed": sorted({r.kind for r in result.removals}),
        **suite_meta(rec),
    }
    return Problem(
        task_id=str(rec["task_id"]),
        prompt=prompt,
        lame_prompt=result.lame,
        stop=STOP,
        entry_point=entry,
        program_head=prompt,
        program_tail="",
        language="python",
        reference=str(rec["canonical_solution"]),
        lame_is_noop=result.is_noop,
        meta=meta,
        suites_given=plus_suites(rec, "humaneval"),
    )


__all__ = ["DEFAULT_FILE", "FIELDS", "HumanEvalPlusTask"]
