"""Requests handed to a running batched loop (``BatchedDecoder.serve``) from other threads.

The loop owns the backend: only its thread tokenises, decodes and touches the KV cache. Other
threads (a server's event loop) talk to it through a ``RequestFeed``: ``submit`` a ``Ticket``,
``cancel`` it, ``close`` the feed. The loop polls the feed between decodes without blocking and
sleeps on it only when it has nothing to decode. It reports back through the ticket's
``Listener``, whose methods it calls from its own thread: they must be quick and never block
(hand the event to another thread's queue).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from uscd.engine.generation import Generation, TokenTrace
from uscd.engine.request import Prepared, Request, prepare
from uscd.engine.state import StepHook
from uscd.errors import UscdError


class QueueFull(UscdError):
    """Too many requests are waiting for a slot; try again later."""


class Stopped(UscdError):
    """The request was stopped from outside (cancelled, out of time, shut down): whoever waits on
    it must stop too, not go on to the next request."""


class Cancelled(Stopped):
    """The request was cancelled (its client went away) before it finished."""


class DeadlineExceeded(Stopped):
    """The request ran past its deadline and was stopped."""


class ServerClosed(Stopped):
    """The loop stopped (the server is shutting down) before the request finished."""


class Listener(Protocol):
    """How the loop reports on one ticket; every method is called from the loop's thread."""

    def started(self, prepared: Prepared) -> None:
        """The request is valid and tokenised; it waits for a slot (or has one)."""

    def token(self, token: int, text: str) -> None:
        """A token was accepted; `text` is the completion text it settled (may be empty: text that
        could still become part of a stop sequence is held back until it cannot)."""

    def done(self, result: Generation | UscdError) -> None:
        """The request finished (a Generation) or failed, was cancelled or timed out (an error)."""


_ids = itertools.count()


@dataclass(eq=False)
class Ticket:
    """One submitted request: what to generate, whom to tell, and until when."""

    request: Request
    listener: Listener
    hook: StepHook | None = None  # per step, in the loop's thread (logprobs, counters)
    deadline: float | None = None  # time.monotonic() after which the request is stopped
    # how the loop tokenises the request (a chat is tokenised with its special tokens)
    prepare: Callable[..., Prepared] = prepare
    # the traced steps of the request's continuation, where known (a branch: its base's steps)
    continuation_trace: tuple[TokenTrace, ...] = ()
    id: int = field(default_factory=lambda: next(_ids))
    cancelled: bool = False
    prepared: Prepared | None = None

    def lapsed(self, now: float) -> UscdError | None:
        """Why the loop must drop this ticket now, if it must."""
        if self.cancelled:
            return Cancelled("the request was cancelled")
        if self.deadline is not None and now > self.deadline:
            return DeadlineExceeded("the request ran past its deadline")
        return None


class RequestFeed:
    """A thread-safe queue of tickets for one serve loop, bounded by `max_waiting` tickets that
    have no slot yet (``submit`` raises QueueFull beyond it)."""

    def __init__(self, max_waiting: int = 64) -> None:
        if max_waiting < 1:
            raise UscdError(f"max_waiting must be at least 1, got {max_waiting}")
        self.max_waiting = max_waiting
        self._cond = threading.Condition()
        self._arrived: deque[Ticket] = deque()  # not tokenised yet
        self._ready: deque[Ticket] = deque()  # tokenised, waiting for a slot
        self._closed = False

    # -- any thread ------------------------------------------------------------------------------

    def submit(self, ticket: Ticket) -> Ticket:
        with self._cond:
            if self._closed:
                raise ServerClosed("the server is shutting down")
            if len(self._arrived) + len(self._ready) >= self.max_waiting:
                raise QueueFull(f"{self.max_waiting} requests are already waiting for a slot")
            self._arrived.append(ticket)
            self._cond.notify_all()
        return ticket

    def cancel(self, ticket: Ticket) -> None:
        """Stop a ticket wherever it is: waiting, or in a slot (freed before the next decode)."""
        with self._cond:
            ticket.cancelled = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stop the loop: it fails what is waiting or in flight with ServerClosed and returns."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def waiting(self) -> int:
        with self._cond:
            return len(self._arrived) + len(self._ready)

    # -- the loop's thread -------------------------------------------------------------------------

    def arrivals(self) -> list[Ticket]:
        """Tickets submitted since the last call, for the loop to tokenise."""
        with self._cond:
            out = list(self._arrived)
            self._arrived.clear()
            return out

    def ready(self, ticket: Ticket) -> None:
        """A tokenised ticket joins the line for a slot."""
        with self._cond:
            self._ready.append(ticket)

    def next_ready(self) -> Ticket | None:
        with self._cond:
            return self._ready.popleft() if self._ready else None

    def sweep(self, now: float) -> list[tuple[Ticket, UscdError]]:
        """Remove waiting tickets that were cancelled or ran out of time, with the reason."""
        with self._cond:
            keep, dropped = deque(), []
            for ticket in self._ready:
                reason = ticket.lapsed(now)
                if reason is None:
                    keep.append(ticket)
                else:
                    dropped.append((ticket, reason))
            self._ready = keep
            return dropped

    def drain(self) -> list[Ticket]:
        """Everything still waiting (on shutdown)."""
        with self._cond:
            out = [*self._arrived, *self._ready]
            self._arrived.clear()
            self._ready.clear()
            return out

    def wait(self, timeout: float) -> None:
        """Sleep until a ticket arrives, one is cancelled, the feed closes, or `timeout` passes."""
        with self._cond:
            if not self._arrived and not self._closed:
                self._cond.wait(timeout)


def monotonic_deadline(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds
