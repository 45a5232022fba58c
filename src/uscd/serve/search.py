"""Completions and chats by a program search (the `branch` method, or its `filter` baseline): each
choice's search runs in a worker thread of its own and decodes through the scheduler's feed (a
``FeedDecoder``), so its programs share the batch with every other request; the prompt's checks
(a chat's: its last user message's) run in the sandbox (uscd.search.checks) on the program — a
chat's: the reply's code. Nothing is streamed until the search ends: a streamed
request gets the chosen program in one chunk. A client that goes away, or a deadline that passes,
cancels the ticket in flight and ends the search.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse, StreamingResponse

from uscd.engine import Generation, Prepared, Request, prepare
from uscd.engine.feed import monotonic_deadline
from uscd.errors import UscdError
from uscd.prompts.lame import normalize_language
from uscd.search import run_search
from uscd.search.branch import check_setting
from uscd.search.decoders import FeedDecoder
from uscd.serve import responses as r
from uscd.serve.errors import ApiError, from_engine
from uscd.serve.method import Method
from uscd.serve.schemas import ChatRequest, CompletionRequest
from uscd.serve.session import DISCONNECT_POLL_S, ClientGone

CHECK_LEVEL = "auto"  # the sandbox level of the prompt's checks (uscd.execution)


def search_language(method: Method, body: CompletionRequest | ChatRequest) -> str:
    """The language whose examples a served program search reads: a completion's `uscd.language`
    (Python, or one of MultiPL-E's languages: their translated examples), a chat's Python only (its
    checks come from a pasted Python function); anything else, rules that look ahead and logprobs
    are a 400."""
    try:
        language = normalize_language(method.language or "python")
        if isinstance(body, ChatRequest) and language != "python":
            raise UscdError(f"a served chat search reads examples from Python task text only, not {language}")
        check_setting(method.rule, language)
    except UscdError as exc:
        raise ApiError(400, str(exc), param="uscd", code="unsupported_for_method") from None
    if body.logprobs not in (None, False):
        message = f"logprobs are not reported for the {method.rule_name} method"
        raise ApiError(400, message, param="logprobs", code="unsupported_for_method")
    return language


async def search_completions(
    request: HttpRequest,
    st,
    body: CompletionRequest | ChatRequest,
    requests: list[Request],
    shape,
    prepare: Callable[..., Prepared] = prepare,
):
    """Answer a completion or a chat whose method searches over programs (`requests`: one per
    choice; a chat's are tokenised by `prepare` with its special tokens)."""
    deadline = monotonic_deadline(st.config.deadline_s)
    scheduler = st.scheduler
    decoders = [
        FeedDecoder(scheduler.feed, st.backend.piece, deadline, scheduler.count, prepare) for _ in requests
    ]
    tasks = [
        asyncio.ensure_future(asyncio.to_thread(run_search, dec, req, CHECK_LEVEL))
        for dec, req in zip(decoders, requests, strict=True)
    ]
    try:
        results = await _all_or_gone(request, tasks)
    except ClientGone:
        return JSONResponse({}, status_code=499)
    except UscdError as exc:
        raise from_engine(exc) from None
    finally:
        for dec, task in zip(decoders, tasks, strict=True):
            dec.cancel()
            task.add_done_callback(_retrieved)  # a search stopped early ends with Cancelled: expected
    return _answer(body, shape, results)


def _retrieved(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()


async def _all_or_gone(request: HttpRequest, tasks: list[asyncio.Future]) -> list[Generation]:
    """Every task's result; the first failure, or ClientGone when the client hangs up meanwhile."""
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, timeout=DISCONNECT_POLL_S, return_when="FIRST_EXCEPTION")
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if pending and await request.is_disconnected():
            raise ClientGone()
    return [task.result() for task in tasks]


def _answer(body: CompletionRequest | ChatRequest, shape: r.Shape, results: list[Generation]):
    prompts = body.prompts() if isinstance(body, CompletionRequest) else []
    echo = [prompts[i // body.n] if prompts and body.echo else "" for i in range(len(results))]
    usage = r.usage(
        sum(gen.prompt_tokens for i, gen in enumerate(results) if i % body.n == 0),
        sum(len(gen.tokens) for gen in results),
    )
    texts = [
        (echo[i] + gen.completion, r.FINISH[gen.finish_reason], search_report(gen))
        for i, gen in enumerate(results)
    ]
    if not body.stream:
        choices = [
            shape.choice(i, text, finish, None, report) for i, (text, finish, report) in enumerate(texts)
        ]
        return JSONResponse(shape.whole(choices, usage))
    chunks = [shape.chunk([shape.delta(i, *text[:2], None, text[2])]) for i, text in enumerate(texts)]
    if body.stream_options and body.stream_options.include_usage:
        chunks.append(shape.chunk([], usage))
    return StreamingResponse(
        _sent(chunks), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


async def _sent(chunks: list[str]):
    for chunk in chunks:
        yield chunk
    yield r.DONE


def search_report(gen: Generation) -> dict:
    """A choice's ``uscd`` field: its steps and what the search did (its counters, and per branch
    tried: the step, the forced token's text, checks passed, kept or dropped and why)."""
    record = gen.search or {}
    counters = {
        k: v for k, v in record.items() if k not in ("branches", "samples", "a_completion", "a_checks")
    }
    tried = [
        {
            "step": b.get("step"),
            "text": b.get("text", ""),
            "passed": (b.get("checks") or {}).get("passed"),
            **({"kept": b["kept"]} if b.get("kept") else {"dropped": b.get("dropped", "")}),
        }
        for b in record.get("branches", [])
    ]
    report = {"steps": gen.steps, "search": counters}
    if "branches" in record:
        report["search"]["tried"] = tried
    return report
