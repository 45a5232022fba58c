"""What a program search decodes with: any ``ProgramDecoder`` — generate a request, branch a
generation at a step, read a token's text. Two implement it:

* ``SingleProgramDecoder``: the single-stream ``Decoder`` (``uscd generate``, ``uscd eval``); a
  branch copies the KV cache of the prompt and the shared tokens (``Decoder.branch``).
* ``FeedDecoder``: a running ``BatchedDecoder.serve`` loop (``uscd serve``), from another thread;
  every program is a ticket in the loop's feed, decoded in the same batch as everyone else's
  requests, and a branch is a continuation request (the loop takes the shared prefix's cells from
  the sequence that still holds the base generation, when it does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from uscd.engine.feed import Cancelled, RequestFeed, Ticket
from uscd.engine.generation import Generation, forked_trace
from uscd.engine.request import Prepared, Request, branched, prepare
from uscd.engine.single import Decoder
from uscd.engine.state import StepHook
from uscd.errors import UscdError


class ProgramDecoder(Protocol):
    """The decoding a program search needs."""

    def generate(self, request: Request, hook: StepHook | None = None) -> Generation:
        """The request's generation; `hook` sees every decided step."""
        ...

    def branch(self, request: Request, base: Generation, at: int, token: int) -> Generation:
        """`base` (a generation of `request`) with `token` at step `at`, continued by the rule."""
        ...

    def piece(self, token: int) -> bytes:
        """A token's bytes."""
        ...


class SingleProgramDecoder:
    """The single-stream decoder as a ProgramDecoder (branches copy the cache: Decoder.branch)."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    def generate(self, request: Request, hook: StepHook | None = None) -> Generation:
        return self.decoder.run(request, hook)

    def branch(self, request: Request, base: Generation, at: int, token: int) -> Generation:
        return self.decoder.branch(request, base, at, token)

    def piece(self, token: int) -> bytes:
        return self.decoder.backend.piece(token)


def program_decoder(decoder: Decoder | ProgramDecoder) -> ProgramDecoder:
    """A ProgramDecoder for `decoder` (a single-stream Decoder is wrapped)."""
    return SingleProgramDecoder(decoder) if isinstance(decoder, Decoder) else decoder


class _Waiter:
    """A ticket's listener that only waits for the end (and tells `on_done`, in the loop's thread)."""

    def __init__(self, on_done: Callable[[Generation | UscdError], None] | None = None) -> None:
        self.finished = threading.Event()
        self.result: Generation | UscdError | None = None
        self.on_done = on_done

    def started(self, prepared: Prepared) -> None:
        pass

    def token(self, token: int, text: str) -> None:
        pass

    def done(self, result: Generation | UscdError) -> None:
        self.result = result
        try:
            if self.on_done is not None:
                self.on_done(result)
        finally:
            self.finished.set()


class FeedDecoder:
    """A ProgramDecoder over a running serve loop: call from a thread of your own (never the loop's),
    one request at a time; ``cancel`` (any thread) stops the ticket in flight and every later one.

    `piece` reads a token's bytes from the vocabulary (the backend's ``piece``: a read-only lookup,
    safe beside the loop's decoding). Every ticket gets `deadline` (``time.monotonic()``) and is
    tokenised by `prepare` (a served chat: with its special tokens); `on_done` hears every
    program's outcome (a server's tally)."""

    def __init__(
        self,
        feed: RequestFeed,
        piece: Callable[[int], bytes],
        deadline: float | None = None,
        on_done: Callable[[Generation | UscdError], None] | None = None,
        prepare: Callable[..., Prepared] = prepare,
    ) -> None:
        self.feed, self._piece, self.deadline, self.on_done = feed, piece, deadline, on_done
        self.prepare = prepare
        self._lock = threading.Lock()
        self._pending: Ticket | None = None
        self._cancelled = False

    def generate(self, request: Request, hook: StepHook | None = None) -> Generation:
        return self._run(Ticket(request, _Waiter(self.on_done), hook, self.deadline, self.prepare))

    def branch(self, request: Request, base: Generation, at: int, token: int) -> Generation:
        continued = branched(request, base.tokens, at, token)
        trace = tuple(forked_trace(base, at, token, self._piece))
        waiter = _Waiter(self.on_done)
        return self._run(Ticket(continued, waiter, None, self.deadline, self.prepare, trace))

    def piece(self, token: int) -> bytes:
        return self._piece(token)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            ticket = self._pending
        if ticket is not None:
            self.feed.cancel(ticket)

    def _run(self, ticket: Ticket) -> Generation:
        with self._lock:
            if self._cancelled:
                raise Cancelled("the request was cancelled")
            self._pending = self.feed.submit(ticket)
        waiter = ticket.listener
        assert isinstance(waiter, _Waiter)
        waiter.finished.wait()  # the loop always reports: done, failed, cancelled or shut down
        with self._lock:
            self._pending = None
        result = waiter.result
        if isinstance(result, UscdError):
            raise result
        assert result is not None
        return result
