"""One HTTP request's choices, from the engine's first word to the response's last byte: wait until
every choice is valid (or answer its error), then either collect the whole response or stream it
as server-sent events. However it ends (finished, failed, client gone), nothing stays in a slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.requests import Request as HttpRequest

from uscd.engine import Cancelled, Generation
from uscd.errors import UscdError
from uscd.serve import responses as r
from uscd.serve.errors import ApiError, from_engine
from uscd.serve.scheduler import Event, Job, TokenInfo

DISCONNECT_POLL_S = 0.5


@dataclass
class ChoicePlan:
    """What a response adds around one choice's generation."""

    prefix: str = ""  # echo: the prompt, before the completion text
    counts_prompt: bool = True  # the first choice of each prompt counts its prompt tokens in usage
    notes: dict = field(default_factory=dict)  # more for the choice's uscd field (the lame prompt's origin)


class ClientGone(Exception):
    """The client closed the connection while it waited for a whole response."""


class Reply:
    """The events of one job turned into an OpenAI response, whole or streamed."""

    def __init__(self, shape: r.Shape, job: Job, plans: list[ChoicePlan]) -> None:
        self.shape, self.job, self.plans = shape, job, plans
        n = len(plans)
        self.prompt_tokens = [0] * n
        self.sent = [0] * n  # characters streamed so far, per choice
        self.tokens: list[list[TokenInfo]] = [[] for _ in range(n)]
        self.results: list[Generation | None] = [None] * n
        self.buffered: list[Event] = []
        self._pending: asyncio.Task | None = None
        self._next_check = time.monotonic() + DISCONNECT_POLL_S

    async def started(self) -> None:
        """Wait until every choice is tokenised and queued; the first that cannot be is the answer."""
        waiting = set(range(len(self.plans)))
        while waiting:
            event = await self.job.next()
            if event.kind == "started":
                waiting.discard(event.choice)
                assert event.prepared is not None
                self.prompt_tokens[event.choice] = len(event.prepared.prompt_tokens)
            elif event.kind == "done" and isinstance(event.result, UscdError) and event.choice in waiting:
                raise from_engine(event.result)
            else:
                self.buffered.append(event)

    # -- a whole response ----------------------------------------------------------------------------

    async def collect(self, request: HttpRequest) -> dict:
        for event in self.buffered:
            self._take(event)
        while not self.job.done:
            self._take(await self._next_or_gone(request))
        choices = [self._whole_choice(i) for i in range(len(self.plans))]
        return self.shape.whole(choices, self.usage())

    def _take(self, event: Event) -> None:
        self.tokens[event.choice].extend(event.tokens)
        if event.kind == "done":
            if isinstance(event.result, UscdError):
                raise from_engine(event.result)
            self.results[event.choice] = event.result
            del self.tokens[event.choice][len(event.result.tokens) :]  # not the end-of-text token

    async def _next_or_gone(self, request: HttpRequest) -> Event:
        """The next event; checks the connection every DISCONNECT_POLL_S meanwhile (a whole response
        has no write that would fail when the client is gone)."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.job.next())
        while True:
            done, _ = await asyncio.wait({self._pending}, timeout=DISCONNECT_POLL_S)
            if time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + DISCONNECT_POLL_S
                if await request.is_disconnected():
                    self._pending.cancel()
                    raise ClientGone()
            if done:
                task, self._pending = self._pending, None
                return task.result()

    def _whole_choice(self, i: int) -> dict:
        gen = self.results[i]
        assert gen is not None
        prefix = self.plans[i].prefix
        logprobs = self._logprobs(self.tokens[i], len(prefix)) if self.tokens[i] else None
        finish = r.FINISH[gen.finish_reason]
        return self.shape.choice(i, prefix + gen.completion, finish, logprobs, self._report(i, gen))

    def _report(self, i: int, gen: Generation) -> dict:
        return {**r.method_report(gen, self.job.recorders[i].changed), **self.plans[i].notes}

    def _logprobs(self, tokens: list[TokenInfo], offset: int) -> dict:
        return r.chat_logprobs(tokens) if self.shape.chat else r.completion_logprobs(tokens, offset)

    def usage(self) -> dict:
        prompt = sum(n for n, plan in zip(self.prompt_tokens, self.plans, strict=True) if plan.counts_prompt)
        done = sum(len(g.tokens) for g in self.results if g is not None)
        return r.usage(prompt, done)

    # -- a stream ------------------------------------------------------------------------------------

    async def stream(self, include_usage: bool) -> AsyncIterator[str]:
        """Server-sent events; when the client goes away the generator is closed and every choice
        still running is cancelled (its slot freed before the engine's next decode)."""
        try:
            if opening := self._opening():
                yield opening
            for event in self.buffered:
                if chunk := self._chunk(event):
                    yield chunk
            while not self.job.done:
                if chunk := self._chunk(await self.job.next()):
                    yield chunk
            if include_usage:
                yield self.shape.chunk([], self.usage())
            yield r.DONE
        except ApiError as exc:  # a choice failed after the response began: say so in the stream
            yield r.sse(exc.body())
            yield r.DONE
        finally:
            self.job.cancel()

    def _opening(self) -> str:
        if self.shape.chat:
            opening = [
                {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                for i in range(len(self.plans))
            ]
            return self.shape.chunk(opening)
        text = [self.shape.delta(i, p.prefix, None, None) for i, p in enumerate(self.plans) if p.prefix]
        return self.shape.chunk(text) if text else ""

    def _chunk(self, event: Event) -> str | None:
        i = event.choice
        logprobs = self._logprobs(event.tokens, self.sent[i]) if event.tokens else None
        if event.kind == "token":
            self.tokens[i].extend(event.tokens)
            self.sent[i] += len(event.text)
            if not event.text and logprobs is None:
                return None
            return self.shape.chunk([self.shape.delta(i, event.text, None, logprobs)])
        if event.kind != "done":
            return None
        if isinstance(event.result, UscdError):
            if isinstance(event.result, Cancelled):
                return None
            raise from_engine(event.result)
        gen = event.result
        assert gen is not None
        self.results[i] = gen
        self.tokens[i].extend(event.tokens)
        kept = event.tokens[: max(0, len(gen.tokens) - len(self.tokens[i]) + len(event.tokens))]
        logprobs = self._logprobs(kept, self.sent[i]) if kept else None  # not the end-of-text token
        rest = gen.completion[self.sent[i] :]
        finish = r.FINISH[gen.finish_reason]
        return self.shape.chunk([self.shape.delta(i, rest, finish, logprobs, self._report(i, gen))])
