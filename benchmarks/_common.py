"""Shared helpers of the benchmark scripts: the model lock, problems, tables, the JSON line."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without installing (PYTHONPATH still wins)
    sys.path.append(str(ROOT / "src"))

LOCK = Path(os.environ.get("USCD_TEST_LOCK", "/tmp/uscd-model.lock"))


@contextmanager
def model_lock():
    """Hold the machine's model lock (two decoding processes on 2 cores ruin every timing).

    Run the scripts under ``flock /tmp/uscd-model.lock``; when the lock is free (not run under
    flock) the script takes it itself. When it is already held, it is assumed to be held for us by
    an enclosing ``flock`` (taking it again would deadlock).
    """
    with open(LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            took = True
        except BlockingIOError:
            took = False
            print(f"note: {LOCK} is held; assuming by the enclosing flock", file=sys.stderr)
        try:
            yield
        finally:
            if took:
                fcntl.flock(fh, fcntl.LOCK_UN)


def humaneval(limit: int | None = None, offset: int = 0):
    from uscd.tasks import get_task

    problems = get_task("humaneval").problems()
    return problems[offset : None if limit is None else offset + limit]


def open_backend(model: str | None = None, n_ctx: int = 4096, threads: int | None = None):
    from uscd.engine.backends.llama_cpp import LlamaCppBackend
    from uscd.models import resolve

    return LlamaCppBackend(resolve(model), n_ctx=n_ctx, n_threads=threads)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"
    return str(x)


def emit(figure: str, value: float, target: str, ok: bool | None, **extra) -> dict:
    """Print the one JSON line a benchmark ends with (run.py reads it)."""
    record = {"figure": figure, "value": round(value, 4), "target": target, "ok": ok, **extra}
    print(json.dumps(record, sort_keys=False))
    return record


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0


def generate_timed(backend, requests: list, batch) -> tuple[list, float]:
    """Generations of `requests` in request order by `generate_problems`, and the loop's wall time;
    the first failed request raises."""
    from uscd.engine import generate_problems
    from uscd.errors import UscdError

    with Timer() as t:
        gens = dict(generate_problems(backend, requests, batch=batch))
    errors = [g for g in gens.values() if isinstance(g, UscdError)]
    if errors:
        raise errors[0]
    return [gens[i] for i in range(len(requests))], t.s
