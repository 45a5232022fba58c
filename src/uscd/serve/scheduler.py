"""The engine loop of the server: one background thread runs ``BatchedDecoder.serve`` and is the
only thread that touches the backend (llama.cpp is not thread-safe); the asyncio side submits
tickets to its ``RequestFeed`` and hears back through an asyncio queue per HTTP request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from uscd.engine import BatchedDecoder, Generation, Prepared, Request, RequestFeed, Ticket, prepare
from uscd.engine.feed import monotonic_deadline
from uscd.errors import UscdError
from uscd.methods import StdView, Step

log = logging.getLogger(__name__)


@dataclass
class TokenInfo:
    """One chosen token as the API reports it: its text and standard-prompt log-probabilities."""

    token: int
    text: bytes
    logprob: float
    top: list[tuple[bytes, float]] = field(default_factory=list)


class StepRecorder:
    """The per-step hook of one request (runs in the engine thread): counts the tokens the method
    changed against greedy, and keeps log-probabilities when the client asked for them."""

    def __init__(self, backend, top_logprobs: int | None) -> None:
        self.backend = backend
        self.top = top_logprobs  # None: no logprobs at all
        self.changed = 0
        self._new: list[TokenInfo] = []

    def __call__(self, step_index: int, view: StdView, aux, step: Step, token: int) -> None:
        self.changed += token != view.greedy_token
        if self.top is not None:
            self._new.append(self._info(view, token))

    def _info(self, view: StdView, token: int) -> TokenInfo:
        logp = view.logp
        info = TokenInfo(token, self.backend.piece(token), float(logp[token]))
        if self.top:
            best = np.argpartition(-view.logits, self.top - 1)[: self.top]
            best = best[np.argsort(-view.logits[best], kind="stable")]
            info.top = [(self.backend.piece(int(t)), float(logp[t])) for t in best]
        return info

    def take(self) -> list[TokenInfo]:
        new, self._new = self._new, []
        return new


@dataclass
class Event:
    """What the engine thread tells the asyncio side about one choice."""

    choice: int
    kind: str  # "started" | "token" | "done"
    text: str = ""
    prepared: Prepared | None = None
    result: Generation | UscdError | None = None
    tokens: list[TokenInfo] = field(default_factory=list)


class _Bridge:
    """A ticket's listener: hands each engine event to the request's asyncio queue, thread-safely."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, choice: int, recorder, count
    ) -> None:
        self.loop, self.queue, self.choice, self.recorder = loop, queue, choice, recorder
        self.count = count  # the scheduler's tally of outcomes (kept in this thread only)

    def _put(self, event: Event) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    def started(self, prepared: Prepared) -> None:
        self._put(Event(self.choice, "started", prepared=prepared))

    def token(self, token: int, text: str) -> None:
        self._put(Event(self.choice, "token", text, tokens=self.recorder.take()))

    def done(self, result: Generation | UscdError) -> None:
        self.count(result)
        self._put(Event(self.choice, "done", result=result, tokens=self.recorder.take()))


@dataclass
class Choice:
    """One request the engine runs for an HTTP request (one of its n choices)."""

    request: Request
    prepare: Callable[..., Prepared] = prepare
    top_logprobs: int | None = None


class Job:
    """The asyncio side of one HTTP request's choices: their events in one queue, and cancel."""

    def __init__(self, scheduler: Scheduler, choices: list[Choice], deadline_s: float | None) -> None:
        self.scheduler = scheduler
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        deadline = monotonic_deadline(deadline_s)
        self.recorders = [StepRecorder(scheduler.backend, c.top_logprobs) for c in choices]
        self.tickets = [
            Ticket(c.request, _Bridge(loop, self.queue, i, rec, scheduler.count), rec, deadline, c.prepare)
            for i, (c, rec) in enumerate(zip(choices, self.recorders, strict=True))
        ]
        self.finished: set[int] = set()

    def submit(self) -> None:
        """Hand every choice to the engine; if one cannot be queued, none stays queued."""
        try:
            for ticket in self.tickets:
                self.scheduler.feed.submit(ticket)
        except UscdError:
            self.cancel()
            raise

    async def next(self) -> Event:
        event = await self.queue.get()
        if event.kind == "done":
            self.finished.add(event.choice)
        return event

    @property
    def done(self) -> bool:
        return len(self.finished) == len(self.tickets)

    def cancel(self) -> None:
        """Stop every choice still running (client gone, an error in a sibling choice)."""
        for i, ticket in enumerate(self.tickets):
            if i not in self.finished:
                self.scheduler.feed.cancel(ticket)


class Scheduler:
    """Owns the engine thread, its batched decoder and its feed."""

    def __init__(self, backend, batch_size: int, *, max_waiting: int = 64, cells: int | None = None) -> None:
        self.backend = backend
        self.decoder = BatchedDecoder(backend, batch_size)
        self.feed = RequestFeed(max_waiting)
        self.cells = cells
        self.outcomes: Counter[str] = Counter()
        self._outcomes_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="uscd-engine", daemon=True)
        self.started_at = time.time()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self.decoder.serve(self.feed, cells=self.cells)
        except Exception:  # pragma: no cover - serve() catches what a round raises
            log.exception("the engine loop stopped")

    def close(self, timeout: float = 30.0) -> None:
        self.feed.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.decoder.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def job(self, choices: list[Choice], deadline_s: float | None) -> Job:
        return Job(self, choices, deadline_s)

    def count(self, result) -> None:
        """Called in the engine thread; read by /health."""
        with self._outcomes_lock:
            self.outcomes["served" if isinstance(result, Generation) else type(result).__name__] += 1

    def _tally(self) -> dict:
        with self._outcomes_lock:
            return dict(self.outcomes)

    def health(self) -> dict:
        return {
            "engine_alive": self.alive,
            "batch": self.decoder.batch_size,
            "in_flight": self.decoder.in_flight(),
            "waiting": self.feed.waiting(),
            "outcomes": self._tally(),
        }
