"""Writing the report: report.md, report.json, index.html and the PNGs, each file atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

from uscd.errors import UscdError
from uscd.report.data import FORMATS, Report
from uscd.report.html import to_html
from uscd.report.markdown import to_markdown


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def render_images(report: Report) -> dict[str, bytes]:
    from uscd.report import plots

    return {spec.name: plots.render(spec) for spec in report.plots}


def write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(payload)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UscdError(f"cannot write {path}: {exc.strerror}") from None


def write_report(report: Report, out: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the chosen formats (and, for md/html, the PNGs) into `out`; return the files written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UscdError(f"cannot create {out}: {exc.strerror}") from None
    images = render_images(report) if {"md", "html"} & set(formats) else {}
    files: dict[str, bytes] = dict(images) if "md" in formats else {}
    data = report.data | {"plots": sorted(images)}
    if "md" in formats:
        files["report.md"] = to_markdown(data, set(images)).encode()
    if "json" in formats:
        files["report.json"] = to_json(data).encode()
    if "html" in formats:
        files["index.html"] = to_html(data, images).encode()
    for name, payload in files.items():
        write_atomic(out / name, payload)
    return [out / name for name in files]


def render_stdout(report: Report, fmt: str) -> str:
    if fmt == "json":
        return to_json(report.data)
    if fmt == "html":
        return to_html(report.data, render_images(report))
    return to_markdown(report.data)
