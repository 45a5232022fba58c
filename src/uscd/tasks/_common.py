"""What the benchmark tasks share: reading record files, locating data, the Task base class."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from uscd.errors import UscdError
from uscd.tasks.base import Problem

Record = dict[str, Any]


def sha256_records(records: Iterable[Record]) -> str:
    """A stable hash of records that did not come from a file (e.g. the Hugging Face hub)."""
    digest = hashlib.sha256()
    for rec in records:
        digest.update(json.dumps(rec, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """Records of a .jsonl, .jsonl.gz, .json or .json.gz file (a JSON array or one object a line)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UscdError(f"dataset file not found: {p}")
    try:
        raw = gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise UscdError(f"cannot read dataset file {p}: {type(exc).__name__}: {exc}") from None
    records = _parse_json(text, p)
    if not records:
        raise UscdError(f"dataset file {p} holds no records")
    return records


def _parse_json(text: str, p: Path) -> list[Record]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UscdError(f"corrupt JSON in {p}: {exc.msg} at line {exc.lineno}") from None
        return [_as_record(r, p, i + 1) for i, r in enumerate(data)]
    records = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(_as_record(json.loads(line), p, lineno))
        except json.JSONDecodeError as exc:
            raise UscdError(f"corrupt JSON in {p} line {lineno}: {exc.msg}") from None
    return records


def _as_record(obj: Any, p: Path, where: int) -> Record:
    if not isinstance(obj, dict):
        raise UscdError(f"dataset file {p}: record {where} is a {type(obj).__name__}, not an object")
    return obj


def require(record: Record, fields: Iterable[str], source: str) -> None:
    missing = [f for f in fields if f not in record]
    if missing:
        rid = record.get("task_id", record.get("name", "?"))
        raise UscdError(
            f"{source}: record {rid!r} lacks field(s) {', '.join(missing)}; is this the right file?"
        )


def shared_file(*parts: str) -> Path | None:
    """A file of the developers' read-only `shared/` folder, when this checkout has one.

    Looked up in $USCD_SHARED, then `../shared` beside the project root. Real users have neither;
    the product never depends on it, it only saves developers a --data flag.
    """
    roots = []
    if os.environ.get("USCD_SHARED"):
        roots.append(Path(os.environ["USCD_SHARED"]))
    here = Path(__file__).resolve().parents
    if len(here) > 4:  # src/uscd/tasks/ -> the project root, whose sibling is shared/
        roots.append(here[3].parent / "shared")
    for root in roots:
        candidate = root.joinpath("data", *parts)
        if candidate.is_file():
            return candidate
    return None


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise UscdError(f"limit must be a non-negative integer, got {limit!r}")


class Task:
    """A benchmark: a list of Problems read from one dataset file (loaded once, on first use)."""

    name: str = ""
    language: str = "python"
    # bump when the way prompts, lame prompts, stop sequences or test programs are built changes:
    # run folders record it, and results made with another version are never mixed
    prompt_version: str = "1"

    def __init__(self) -> None:
        self._problems: list[Problem] | None = None
        self._path: str | None = None
        self._sha256: str | None = None

    # -- what subclasses provide
    def _load(self) -> list[Problem]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The knobs this task was built with, for the run config."""
        return {}

    # -- the public surface
    @property
    def dataset_path(self) -> str | None:
        """The dataset file actually read (or a hub reference when read from the hub)."""
        self._all()
        return self._path

    @property
    def dataset_sha256(self) -> str | None:
        self._all()
        return self._sha256

    def problems(self, limit: int | None = None) -> list[Problem]:
        check_limit(limit)
        problems = self._all()
        return list(problems if limit is None else problems[:limit])

    def problem(self, task_id: str) -> Problem:
        problems = self._all()
        wanted = self.resolve_id(str(task_id).strip())
        for p in problems:
            if p.task_id == wanted:
                return p
        raise UscdError(
            f"unknown task id {task_id!r} for {self.name} "
            f"({len(problems)} problems: {problems[0].task_id} ... {problems[-1].task_id})"
        )

    def resolve_id(self, task_id: str) -> str:
        """Shorthands a user may type (e.g. "0" for "HumanEval/0"); identity by default."""
        return task_id

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompt_version": self.prompt_version,
            "dataset_path": self.dataset_path,
            "dataset_sha256": self.dataset_sha256,
            "options": self.options(),
        }

    def _all(self) -> list[Problem]:
        if self._problems is None:
            self._problems = self._load()
            if not self._problems:
                raise UscdError(f"{self.name}: the dataset holds no problems for these options")
        return self._problems

    def _set_source(self, path: str, sha256: str) -> None:
        self._path, self._sha256 = path, sha256
