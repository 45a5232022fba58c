"""MBPP as the USCD authors prompt it (bigcode InCoder style).

Standard prompt: a docstring holding the task text and the *first* test assert; lame prompt: the
same docstring without the assert line. Splits by task id: test 11-510 (500), validation 511-600
(used for calibration), prompt 1-10, train 601-974.

Data: `data=PATH` (the google-research `mbpp.jsonl`, or any file of records with the same
fields), else the Hugging Face hub through `datasets` (extra `uscd[hub]`, needs the network).
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path
from typing import Any

from uscd.digest import sha256_file
from uscd.errors import UscdError
from uscd.prompts.lame import derive
from uscd.tasks._common import Record, Task, read_records, require, sha256_records
from uscd.tasks.base import Problem

STOP = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
SPLITS: dict[str, range] = {
    "test": range(11, 511),
    "validation": range(511, 601),
    "prompt": range(1, 11),
    "train": range(601, 975),
}
HUB_ID, HUB_CONFIG = "google-research-datasets/mbpp", "full"
FIELDS = ("task_id", "text", "test_list")
_BUILTINS = frozenset(dir(builtins))


def standard_prompt(text: str, first_test: str) -> str:
    return f'"""\n{text}\n{first_test}\n"""\n'


def simple_lame_prompt(text: str) -> str:
    return f'"""\n{text}\n"""\n'


def entry_point(first_test: str, code: str = "") -> str:
    """The function the first assert calls: MBPP records do not name it."""
    try:
        tree = ast.parse(first_test.strip())
    except SyntaxError:
        m = re.search(r"([A-Za-z_]\w*)\s*\(", first_test)
        if not m:
            raise UscdError(f"cannot find the tested function in {first_test!r}") from None
        return m.group(1)
    calls = sorted(
        (n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    names = [n.func.id for n in calls]  # type: ignore[attr-defined]
    defined = set(re.findall(r"^\s*def\s+([A-Za-z_]\w*)", code, re.M))
    for pick in ([n for n in names if n in defined], [n for n in names if n not in _BUILTINS], names):
        if pick:
            return pick[0]
    raise UscdError(f"cannot find the tested function in {first_test!r}")


def load_hub_records() -> list[Record]:
    """All 974 MBPP records from the hub (every split), or a one-line UscdError."""
    try:
        import datasets  # optional, heavy, network-bound
    except ImportError:
        raise UscdError(
            "MBPP needs data=PATH (mbpp.jsonl) or the `datasets` package to fetch it from the "
            "Hugging Face hub: pip install 'uscd[hub]'"
        ) from None
    try:
        dsets = datasets.load_dataset(HUB_ID, HUB_CONFIG)
    except Exception as exc:  # offline, hub down, renamed dataset: all the same to the user
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UscdError(f"could not load MBPP from the hub ({first}); pass data=PATH to mbpp.jsonl") from None
    records = [dict(row) for split in dsets.values() for row in split]
    return sorted(records, key=lambda r: int(r["task_id"]))


class MbppTask(Task):
    name = "mbpp"

    def __init__(self, *, data: str | None = None, split: str = "test", challenge: bool = False) -> None:
        super().__init__()
        if split not in SPLITS:
            raise UscdError(f"MBPP split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.data, self.split, self.challenge = data, split, bool(challenge)

    def options(self) -> dict[str, Any]:
        return {"data": self.data, "split": self.split, "challenge": self.challenge}

    def resolve_id(self, task_id: str) -> str:
        return task_id.split("/", 1)[1] if task_id.lower().startswith("mbpp/") else task_id

    def _records(self) -> list[Record]:
        if self.data:
            path = Path(self.data).expanduser()
            records = read_records(path)
            self._set_source(str(path), sha256_file(path))
        else:
            records = load_hub_records()
            self._set_source(f"hf://{HUB_ID} ({HUB_CONFIG})", sha256_records(records))
        for rec in records:
            require(rec, FIELDS, self._path or "MBPP")
        return records

    def _load(self) -> list[Problem]:
        wanted = SPLITS[self.split]
        picked = [r for r in self._records() if _task_number(r) in wanted]
        return [self._problem(r) for r in sorted(picked, key=_task_number)]

    def _problem(self, rec: Record) -> Problem:
        tests = [str(t) for t in rec["test_list"]]
        if not tests:
            raise UscdError(f"MBPP task {rec['task_id']} has no test_list")
        text, code = str(rec["text"]), str(rec.get("code", ""))
        prompt = standard_prompt(text, tests[0])
        lame = simple_lame_prompt(text)
        derived = derive(prompt, "python").lame
        if self.challenge:
            tests += [str(t) for t in rec.get("challenge_test_list") or []]
        setup = str(rec.get("test_setup_code") or "")
        return Problem(
            task_id=str(rec["task_id"]),
            prompt=prompt,
            lame_prompt=lame,
            stop=STOP,
            entry_point=entry_point(tests[0], code),
            # the harness runs the solution first, then the setup (it may use the solution), then
            # the asserts; the docstring prompt is a harmless string expression at the top
            program_head=prompt,
            program_tail="\n" + setup + "\n" + "\n".join(tests) + "\n",
            language="python",
            reference=code.replace("\r\n", "\n") if code else None,
            lame_is_noop=False,
            meta={
                "split": self.split,
                "lame_source": "official-construction",
                "lame_matches_derive": derived == lame,
                "challenge_test_list": list(rec.get("challenge_test_list") or []),
            },
        )


def _task_number(rec: Record) -> int:
    try:
        return int(rec["task_id"])
    except (TypeError, ValueError):
        raise UscdError(f"MBPP task_id must be an integer, got {rec.get('task_id')!r}") from None
