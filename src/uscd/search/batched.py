"""Program searches (the `branch` method, its `filter` baseline) for many requests at once: one
batched serve loop decodes every program, and each request's search runs in a worker thread of
its own that decodes through the loop's feed (a ``FeedDecoder``), as ``uscd serve`` runs them.
``on_serve_loop`` runs any such job (the premise study's oracle too).

While one search runs its checks in the sandbox, the others keep the batch's slots busy; a branch
takes its shared prefix's cells from the sequence that still holds its base program, when it does.
Results come in completion order. The batch's composition depends on when each search's checks
finish, so near-tie tokens may differ from run to run (as they differ between batch sizes); the
single-stream path (`--batch 1`) stays bit-for-bit reproducible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from functools import partial
from typing import TypeVar

from uscd.engine.batched import BatchedDecoder
from uscd.engine.feed import RequestFeed
from uscd.engine.generation import Generation
from uscd.engine.request import Request
from uscd.errors import UscdError
from uscd.search.decoders import FeedDecoder

T = TypeVar("T")


def search_many(
    decoder: BatchedDecoder, requests: list[Request], level: str = "auto"
) -> Iterator[tuple[int, Generation | UscdError]]:
    """Run every request's program search on `decoder`'s serve loop, `decoder.batch_size` searches
    at a time; yield (request index, Generation or UscdError) as each search ends."""
    if not requests:
        return
    jobs = [partial(_search, request=r, level=level) for r in requests]
    yield from on_serve_loop(decoder, jobs, _cells(decoder, requests))


def on_serve_loop(
    decoder: BatchedDecoder, jobs: list[Callable[[FeedDecoder], T]], cells: int
) -> Iterator[tuple[int, T | UscdError]]:
    """Run each job — a function of a ProgramDecoder that decodes through it, and may run programs
    in the sandbox between its decodes — in a worker thread of its own, `decoder.batch_size` jobs
    at a time, every program decoded by one batched serve loop (`cells` KV cells); yield (job
    index, its result or UscdError) as each job ends. An error other than UscdError stops the
    loop and is raised here (the jobs not started never start)."""
    if not jobs:
        return
    feed = RequestFeed(max_waiting=decoder.batch_size + 1)  # each job has one program in flight
    loop = threading.Thread(target=decoder.serve, args=(feed,), kwargs={"cells": cells})
    loop.start()
    pool = ThreadPoolExecutor(decoder.batch_size, thread_name_prefix="uscd-loop-job")
    try:
        futures = {pool.submit(_job, job, feed, decoder): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], _outcome(future)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # jobs not started never start
        feed.close()  # the loop fails what is in flight: the running jobs stop (Stopped)
        loop.join()
        pool.shutdown(wait=True)


def _job(job: Callable[[FeedDecoder], T], feed: RequestFeed, decoder: BatchedDecoder) -> T:
    return job(FeedDecoder(feed, decoder.backend.piece))


def _search(programs: FeedDecoder, request: Request, level: str) -> Generation:
    from uscd.search import run_search

    return run_search(programs, request, level)


def _outcome(future: Future[T]) -> T | UscdError:
    try:
        return future.result()
    except UscdError as exc:  # this job fails on its own (e.g. its prompt fills the context)
        return exc


def _cells(decoder: BatchedDecoder, requests: list[Request]) -> int:
    """KV cells for a full batch of the hungriest kind: every sequence of a slot at full length."""
    lanes = max(len(r.rule.aux) for r in requests)
    return decoder.batch_size * (1 + lanes) * decoder.backend.n_ctx
