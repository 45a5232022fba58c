"""MultiPL-E: HumanEval (or MBPP) translated to other languages; one task per language.

Records (`prompts/<dataset>-<lang>-<variant>.jsonl` of nuprl/MultiPL-E) hold `name, language,
prompt, doctests, original, prompt_terminology, tests, stop_tokens`. Variants: `reworded` (what
the USCD authors and the bigcode harness use; the default), `transform`, `keep`, `remove`.
The test program is assembled the MultiPL-E way (prompt + completion + "\\n" + tests, the completion
cut at the record's stop tokens during generation) and executed by uscd.execution in the problem's
language (docs/multipl-e.md; `uscd doctor` says which languages this machine can run).

Data: `data=PATH` (a .jsonl/.jsonl.gz file, or a folder holding `<dataset>-<lang>-<variant>.jsonl[.gz]`),
else the developers' shared folder, else (reworded only) the Hugging Face hub `nuprl/MultiPL-E`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from uscd.digest import sha256_file
from uscd.errors import UscdError
from uscd.prompts.lame import derive
from uscd.tasks._common import Record, Task, read_records, require, sha256_records, shared_file
from uscd.tasks.base import Problem

LANGUAGES = (
    "cpp", "cs", "d", "elixir", "go", "hs", "java", "jl", "js", "lua", "ml",
    "php", "pl", "py", "r", "rb", "rkt", "rs", "scala", "sh", "swift", "ts",
)  # fmt: skip
VARIANTS = ("reworded", "transform", "keep", "remove")
DATASETS = ("humaneval", "mbpp")
HUB_ID = "nuprl/MultiPL-E"
FIELDS = ("name", "prompt", "tests", "stop_tokens")
_NAME = re.compile(r"^(?:HumanEval|mbpp)_(?P<num>\d+)_(?P<entry>.+)$", re.I)


def file_name(dataset: str, language: str, variant: str) -> str:
    return f"{dataset}-{language}-{variant}.jsonl"


class MultiPLETask(Task):
    def __init__(
        self,
        language: str,
        *,
        data: str | None = None,
        variant: str = "reworded",
        dataset: str = "humaneval",
    ) -> None:
        super().__init__()
        if language not in LANGUAGES:
            raise UscdError(f"MultiPL-E has no language {language!r}; known: {', '.join(LANGUAGES)}")
        if variant not in VARIANTS:
            raise UscdError(f"MultiPL-E variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if dataset not in DATASETS:
            raise UscdError(f"MultiPL-E dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
        self.name = f"multipl-e-{language}"
        self.language = "python" if language == "py" else language
        self.lang_key, self.data, self.variant, self.dataset = language, data, variant, dataset

    def options(self) -> dict[str, Any]:
        return {"data": self.data, "variant": self.variant, "dataset": self.dataset}

    def problem(self, task_id: str) -> Problem:
        tid = str(task_id).strip()
        m = re.fullmatch(r"(?:(?:HumanEval|mbpp)[/_])?(\d+)", tid, re.I)
        if m:
            for p in self._all():
                found = _NAME.match(p.task_id)
                if found and found.group("num") == m.group(1):
                    return p
        return super().problem(tid)

    def _records(self) -> list[Record]:
        path = self._find_file()
        if path is not None:
            records = read_records(path)
            self._set_source(str(path), sha256_file(path))
            return records
        records = self._hub_records()
        self._set_source(f"hf://{HUB_ID} ({self.dataset}-{self.lang_key})", sha256_records(records))
        return records

    def _find_file(self) -> Path | None:
        stem = file_name(self.dataset, self.lang_key, self.variant)
        if self.data:
            p = Path(self.data).expanduser()
            if not p.is_dir():
                return p
            for candidate in (p / stem, p / f"{stem}.gz"):
                if candidate.is_file():
                    return candidate
            raise UscdError(f"no {stem}[.gz] in {p}")
        return shared_file("multipl-e", f"{stem}.gz") or shared_file("multipl-e", stem)

    def _hub_records(self) -> list[Record]:
        if self.variant != "reworded":
            raise UscdError(f"MultiPL-E {self.variant!r} prompts need data=PATH (the hub has only reworded)")
        try:
            import datasets  # optional, heavy, network-bound
        except ImportError:
            raise UscdError(
                f"MultiPL-E needs data=PATH ({file_name(self.dataset, self.lang_key, self.variant)}) "
                "or the `datasets` package: pip install 'uscd[hub]'"
            ) from None
        try:
            rows = datasets.load_dataset(HUB_ID, f"{self.dataset}-{self.lang_key}", split="test")
        except Exception as exc:  # offline, hub down: one line for the user
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UscdError(f"could not load {HUB_ID} from the hub ({first}); pass data=PATH") from None
        return [dict(r) for r in rows]

    def _load(self) -> list[Problem]:
        records = self._records()
        for rec in records:
            require(rec, FIELDS, self._path or HUB_ID)
        return [self._problem(rec) for rec in records]

    def _problem(self, rec: Record) -> Problem:
        prompt, name = str(rec["prompt"]), str(rec["name"])
        result = derive(prompt, self.lang_key)
        m = _NAME.match(name)
        return Problem(
            task_id=name,
            prompt=prompt,
            lame_prompt=result.lame,
            stop=tuple(str(s) for s in rec["stop_tokens"]),
            entry_point=m.group("entry") if m else name,
            program_head=prompt,
            program_tail="\n" + str(rec["tests"]),
            language=self.language,
            reference=None,
            lame_is_noop=result.is_noop,
            meta={
                "variant": self.variant,
                "dataset": self.dataset,
                "lame_source": "derived",
                "lame_removed": sorted({r.kind for r in result.removals}),
                "prompt_terminology": rec.get("prompt_terminology"),
            },
        )
