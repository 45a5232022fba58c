"""Run many programs across cores, streaming results as they finish."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any, TypeVar

from uscd.execution.sandbox import DEFAULT_LIMITS, ExecResult, Limits, available_level, run_program

Key = TypeVar("Key", bound=Hashable)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def run_many(
    items: Iterable[tuple[Key, str]],
    *,
    workers: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    level: str = "auto",
    language="python",  # a name or a languages.Language spec, as run_program takes
    on_result: Callable[[Key, ExecResult], None] | None = None,
) -> Iterator[tuple[Key, ExecResult]]:
    """Yield (key, result) in completion order; `on_result` sees each one first, in this thread.

    Threads suffice: each run is a child process and the harness side only waits on pipes.
    `items` is consumed lazily, at most 2 × workers programs are in flight.
    """
    workers = workers or default_workers()
    resolved = available_level(level)  # probe (and warn) once, before any thread starts
    run = partial(run_program, language=language, limits=limits, level=resolved)
    for key, result in map_unordered(run, items, workers):
        if on_result is not None:
            on_result(key, result)
        yield key, result


def map_unordered(fn: Callable, items: Iterable[tuple[Key, Any]], workers: int) -> Iterator[tuple[Key, Any]]:
    """(key, fn(arg)) for (key, arg) items, in completion order, `workers` threads; items are pulled
    lazily (at most 2 × workers in flight)."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="uscd-sandbox") as pool:
        try:
            yield from _completed(pool, fn, iter(items), 2 * workers)
        finally:  # a consumer that stops early must not wait for programs it will never see
            pool.shutdown(wait=True, cancel_futures=True)


def _completed(
    pool: ThreadPoolExecutor, run: Callable[[str], ExecResult], source: Iterator, in_flight: int
) -> Iterator[tuple[Key, ExecResult]]:
    pending: dict[Future[ExecResult], Key] = {}
    exhausted = False
    while True:
        while not exhausted and len(pending) < in_flight:
            item = next(source, None)
            if item is None:
                exhausted = True
            else:
                pending[pool.submit(run, item[1])] = item[0]
        if not pending:
            return
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            yield pending.pop(future), future.result()
