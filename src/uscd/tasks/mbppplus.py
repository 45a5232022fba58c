"""MBPP+ (evalplus): base and plus inputs, judged the evalplus way, in two layouts.

- The published release (v0.2.0, 378 tasks, `MbppPlus.jsonl.gz` from evalplus/mbppplus_release):
  prompts are already `\"\"\"\\n<task>\\n<first assertion>\\n\"\"\"\\n`; task name `mbppplus`.
- The pre-release snapshot in the developers' shared folder (evalplus@767efcc3, 399 tasks), whose
  prompts are `'''\\n<task>\\n'''` without the assertion: the prompt is built in the release's (and
  uscd's MBPP) shape from the task text and its first assertion. Every figure made from it is
  labelled `mbppplus-snapshot`, never plain MBPP+.

Data: `data=PATH` to either file; default: the shared snapshot. The lame prompt is the docstring
without the assertion, as for MBPP.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from uscd.digest import sha256_file
from uscd.errors import UscdError
from uscd.prompts.lame import derive
from uscd.tasks._common import Record, Task, read_records, shared_file
from uscd.tasks._plus import check_record, plus_suites, suite_meta
from uscd.tasks.base import Problem
from uscd.tasks.mbpp import STOP, simple_lame_prompt, standard_prompt

SNAPSHOT_FILE = "MbppPlus.jsonl.gz"
SNAPSHOT_NAME, RELEASE_NAME = "mbppplus-snapshot", "mbppplus"
# sha256 of the shared snapshot as stored (gzip) and decompressed (PROVENANCE.md)
SNAPSHOT_SHA256 = {
    "b4e9daf3a3d68503c2a92d195e1b44ea485fc15e8eb24f7a60552351835bf47c",
    "08405a4e8764a4941cfe0945d25a956355a0454f364ea902c4020a44e7057973",
}
_ASSERT_LINE = re.compile(r"^\s*assert\b", re.M)


def is_snapshot_layout(records: list[Record], sha256: str) -> bool:
    """The snapshot's prompts hold no assertion; the release's all do."""
    return sha256 in SNAPSHOT_SHA256 or not any(_ASSERT_LINE.search(str(r["prompt"])) for r in records)


def task_text(snapshot_prompt: str) -> str:
    text = snapshot_prompt.strip()
    for quote in ("'''", '"""'):
        if text.startswith(quote) and text.endswith(quote) and len(text) >= 6:
            return text[3:-3].strip("\n")
    return text


def first_assertion(rec: Record) -> str:
    lines = [ln.strip() for ln in str(rec.get("assertion") or "").splitlines() if ln.strip()]
    found = next((ln for ln in lines if ln.startswith("assert")), None)
    if found is None:
        raise UscdError(f"MBPP+ task {rec['task_id']} has no assertion to put in its prompt")
    return found


class MbppPlusTask(Task):
    def __init__(self, *, data: str | None = None) -> None:
        super().__init__()
        self.data = data
        self._snapshot: bool | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        self._all()
        return SNAPSHOT_NAME if self._snapshot else RELEASE_NAME

    def options(self) -> dict[str, Any]:
        self._all()
        return {"data": self.data, "layout": "snapshot" if self._snapshot else "release"}

    def resolve_id(self, task_id: str) -> str:
        number = task_id.split("/", 1)[1] if task_id.lower().startswith("mbpp/") else task_id
        return f"Mbpp/{number}" if number.isdigit() else task_id

    def _path_to_read(self) -> Path:
        if self.data:
            return Path(self.data).expanduser()
        found = shared_file("mbppplus", SNAPSHOT_FILE)
        if found is None:
            raise UscdError(
                "MBPP+ data not found: pass data=PATH to MbppPlus.jsonl(.gz) "
                "(evalplus/mbppplus_release v0.2.0)"
            )
        return found

    def _load(self) -> list[Problem]:
        path = self._path_to_read()
        records = read_records(path)
        for rec in records:
            check_record(rec, str(path))
        sha = sha256_file(path)
        self._set_source(str(path), sha)
        self._snapshot = is_snapshot_layout(records, sha)
        return [self._problem(rec) for rec in records]

    def _problem(self, rec: Record) -> Problem:
        if self._snapshot:
            text = task_text(str(rec["prompt"]))
            prompt = standard_prompt(text, first_assertion(rec))
        else:
            prompt = str(rec["prompt"])
            text = _ASSERT_LINE.split(task_text(prompt))[0].strip("\n")
        lame = simple_lame_prompt(text)
        return Problem(
            task_id=str(rec["task_id"]),
            prompt=prompt,
            lame_prompt=lame,
            stop=STOP,
            entry_point=str(rec["entry_point"]),
            program_head=prompt,
            program_tail="",
            language="python",
            reference=str(rec["canonical_solution"]),
            lame_is_noop=False,
            meta={
                "layout": "snapshot" if self._snapshot else "release",
                "lame_source": "official-construction",
                "lame_matches_derive": derive(prompt, "python").lame == lame,
                **suite_meta(rec),
            },
            suites_given=plus_suites(rec, "mbpp"),
        )
