"""One run = one folder: config.json, samples.jsonl, traces.jsonl, results.jsonl, summary.json.

JSONL files are appended one record at a time, flushed and fsynced, so a run killed at any moment
loses at most the record being written; a torn last line is cut off when the folder is reopened.
config.json and summary.json are replaced atomically (temporary file + rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from uscd.errors import UscdError

SAMPLES = "samples.jsonl"
TRACES = "traces.jsonl"
RESULTS = "results.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"

# settings that may change between invocations of the same run without changing its meaning
VOLATILE_KEYS = ("limit", "batch", "threads", "workers", "created", "versions", "execution")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def identity(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in VOLATILE_KEYS and k != "config_hash"}


def config_hash(config: dict) -> str:
    canonical = json.dumps(identity(config), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (a write interrupted by kill -9) so appends start on a clean line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        fh.truncate(data.rfind(b"\n") + 1)


def read_jsonl(path: Path) -> Iterator[dict]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                return  # torn tail: ignored here, cut on the next append
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    raise UscdError(
                        f"{path} line {lineno} is corrupt; move the file away to redo it"
                    ) from None


class JsonlAppender:
    def __init__(self, path: Path) -> None:
        _repair_tail(path)
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, record: dict) -> None:
        self.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


class RunFolder:
    """A run's folder. `open` creates it or checks that an existing one has the same identity."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._appenders: dict[str, JsonlAppender] = {}

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def exists(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> dict:
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError:
            raise UscdError(f"{self.path} is not a run folder (no {CONFIG})") from None
        except json.JSONDecodeError:
            raise UscdError(f"{self.config_path} is corrupt") from None

    def open(self, config: dict) -> dict:
        """Create the folder with this config, or resume it if it was made with the same settings."""
        config = {**config, "config_hash": config_hash(config)}
        if self.exists():
            old = self.read_config()
            if identity(old) != identity(config):
                changed = sorted(
                    k for k in set(identity(old)) | set(identity(config)) if old.get(k) != config.get(k)
                )
                raise UscdError(
                    f"{self.path} holds a run with different settings ({', '.join(changed)}); "
                    "use another --out folder or delete it"
                )
            merged = {**old, **{k: config[k] for k in VOLATILE_KEYS if k in config}}
            write_json_atomic(self.config_path, merged)
            return merged
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UscdError(f"cannot create run folder {self.path}: {exc.strerror}") from None
        write_json_atomic(self.config_path, config)
        return config

    def _appender(self, name: str) -> JsonlAppender:
        if name not in self._appenders:
            self._appenders[name] = JsonlAppender(self.path / name)
        return self._appenders[name]

    def append(self, name: str, record: dict) -> None:
        self._appender(name).append(record)

    def records(self, name: str) -> list[dict]:
        return list(read_jsonl(self.path / name))

    def samples(self) -> list[dict]:
        return self.records(SAMPLES)

    def results(self) -> list[dict]:
        return self.records(RESULTS)

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.path / SUMMARY, summary)

    def read_summary(self) -> dict | None:
        path = self.path / SUMMARY
        return json.loads(path.read_text()) if path.exists() else None

    def close(self) -> None:
        for appender in self._appenders.values():
            with contextlib.suppress(OSError):
                appender.close()
        self._appenders.clear()


def find_run_folders(path: Path) -> list[RunFolder]:
    """The run folder at `path`, or the run folders directly inside it (one per method)."""
    path = Path(path)
    if not path.exists():
        raise UscdError(f"{path} does not exist")
    if (path / CONFIG).is_file():
        return [RunFolder(path)]
    found = [RunFolder(p) for p in sorted(path.iterdir()) if (p / CONFIG).is_file()] if path.is_dir() else []
    if not found:
        raise UscdError(f"{path} holds no run folder (no {CONFIG} in it or in its subfolders)")
    return found
