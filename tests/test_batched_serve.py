"""The batched loop fed while it runs (``BatchedDecoder.serve``), on the fake model: the same
tokens as ``generate_many``, the text streamed token by token, cancellation and deadlines that
free the slot and its KV cells at once, a bounded queue, and a loop that survives its listeners."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from tests.test_batched import FakeBackend, fresh, make_requests

from uscd.engine import (
    BatchedDecoder,
    Cancelled,
    DeadlineExceeded,
    GenerationConfig,
    PromptTooLong,
    QueueFull,
    Request,
    RequestFeed,
    ServerClosed,
    Ticket,
)
from uscd.engine.generation import CompletionText
from uscd.errors import UscdError
from uscd.methods import Sampler, make_rule

WAIT = 30  # seconds a test waits for the loop thread before it fails (never reached when correct)


class Recorder:
    """A listener that keeps every event; `finished` is set by `done`."""

    def __init__(self, on_token=None) -> None:
        self.prepared = None
        self.tokens: list[int] = []
        self.texts: list[str] = []
        self.result = None
        self.finished = threading.Event()
        self.on_token = on_token

    def started(self, prepared) -> None:
        self.prepared = prepared

    def token(self, token: int, text: str) -> None:
        self.tokens.append(token)
        self.texts.append(text)
        if self.on_token is not None:
            self.on_token(self)

    def done(self, result) -> None:
        self.result = result
        self.finished.set()

    def streamed(self) -> str:
        return "".join(self.texts)


class Loop:
    """A serve loop on its own thread, as a server runs it."""

    def __init__(self, backend=None, batch: int = 3, max_waiting: int = 64) -> None:
        self.backend = backend or FakeBackend()
        self.decoder = BatchedDecoder(self.backend, batch)
        self.feed = RequestFeed(max_waiting)
        self.thread = threading.Thread(target=self.decoder.serve, args=(self.feed,), kwargs={"idle_s": 0.05})

    def __enter__(self) -> Loop:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.feed.close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()

    def submit(self, request, **kw) -> tuple[Ticket, Recorder]:
        rec = kw.pop("listener", None) or Recorder()
        return self.feed.submit(Ticket(request, rec, **kw)), rec


def wait_all(recorders) -> None:
    for rec in recorders:
        assert rec.finished.wait(WAIT), "the loop never finished a request"


def wait_idle(decoder: BatchedDecoder) -> None:
    deadline = time.monotonic() + WAIT
    while decoder.in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert decoder.in_flight() == 0


@pytest.mark.parametrize("rule_name", ["greedy", "uscd", "cfg"])
def test_served_requests_generate_what_generate_many_does_and_stream_their_text(rule_name):
    requests = make_requests(rule_name, n=7)
    expected = dict(BatchedDecoder(FakeBackend(), 3).generate_many(fresh(requests)))
    with Loop() as loop:
        recs = [loop.submit(r)[1] for r in fresh(requests)]
        wait_all(recs)
        wait_idle(loop.decoder)
    for i, rec in enumerate(recs):
        gen = rec.result
        assert gen.tokens == expected[i].tokens
        assert gen.completion == expected[i].completion
        assert rec.prepared is not None and len(rec.prepared.prompt_tokens) == gen.prompt_tokens
        # every token but the last was streamed; the settled text is a prefix of the completion
        assert rec.tokens == gen.tokens[: len(rec.tokens)] and len(rec.tokens) >= len(gen.tokens) - 1
        assert gen.completion.startswith(rec.streamed())


def test_requests_submitted_while_the_loop_runs_join_the_batch():
    requests = make_requests("uscd", n=9)
    expected = dict(BatchedDecoder(FakeBackend(), 3).generate_many(fresh(requests)))
    with Loop() as loop:
        recs = []
        for r in fresh(requests):
            recs.append(loop.submit(r)[1])
            time.sleep(0.005)
        wait_all(recs)
        wait_idle(loop.decoder)
        late = loop.submit(fresh(requests)[0])[1]  # after the loop went idle
        wait_all([late])
    assert [rec.result.tokens for rec in recs] == [expected[i].tokens for i in range(9)]
    assert late.result.tokens == expected[0].tokens


def test_a_cancelled_request_frees_its_slot_and_cells_at_once():
    request = make_requests("uscd", n=1)[0]
    long = replace(request, config=GenerationConfig(max_new_tokens=400))
    with Loop(batch=1) as loop:
        ticket = None

        def cancel_after_three(rec):
            if len(rec.tokens) == 3:
                loop.feed.cancel(ticket)

        ticket, rec = loop.submit(long, listener=Recorder(cancel_after_three))
        wait_all([rec])
        assert isinstance(rec.result, Cancelled) and len(rec.tokens) == 3
        wait_idle(loop.decoder)
        (ctx,) = loop.backend.contexts
        assert all(not tokens for tokens in ctx.tokens), "the cancelled request's KV cells were kept"
        after = loop.submit(fresh([request])[0])[1]  # the one slot serves the next request
        wait_all([after])
    assert after.result.tokens == dict(BatchedDecoder(FakeBackend(), 1).generate_many([request]))[0].tokens


def test_a_request_cancelled_while_it_waits_never_takes_a_slot():
    requests = make_requests("greedy", n=3)
    gate = threading.Event()
    with Loop(batch=1) as loop:
        _first, rec1 = loop.submit(requests[0], listener=Recorder(lambda rec: gate.wait(WAIT)))
        second, rec2 = loop.submit(requests[1])
        loop.feed.cancel(second)
        gate.set()
        _third, rec3 = loop.submit(requests[2])
        wait_all([rec1, rec2, rec3])
    assert isinstance(rec2.result, Cancelled) and rec2.tokens == []
    assert not isinstance(rec1.result, UscdError) and not isinstance(rec3.result, UscdError)


def test_deadlines_stop_requests_in_flight_and_in_line():
    request = replace(make_requests("greedy", n=1)[0], config=GenerationConfig(max_new_tokens=400))
    pause = threading.Event()  # never set: the first token's listener sleeps past both deadlines
    with Loop(batch=1) as loop:
        deadline = time.monotonic() + 0.05
        _, running = loop.submit(request, listener=Recorder(lambda rec: pause.wait(0.2)), deadline=deadline)
        _, queued = loop.submit(request, deadline=deadline)
        wait_all([running, queued])
        wait_idle(loop.decoder)
    assert isinstance(running.result, DeadlineExceeded)
    assert isinstance(queued.result, DeadlineExceeded) and queued.tokens == []


def test_the_queue_is_bounded():
    gate = threading.Event()
    request = make_requests("greedy", n=1)[0]
    with Loop(batch=1, max_waiting=2) as loop:
        _, first = loop.submit(request, listener=Recorder(lambda rec: gate.wait(WAIT)))
        deadline = time.monotonic() + WAIT
        while not first.tokens and time.monotonic() < deadline:  # it holds the only slot
            time.sleep(0.01)
        waiting = [loop.submit(request)[1] for _ in range(2)]
        with pytest.raises(QueueFull):
            loop.submit(request)
        gate.set()
        wait_all([first, *waiting])
    assert all(rec.result.tokens for rec in [first, *waiting])


def test_bad_requests_fail_alone_before_they_start():
    backend = FakeBackend(n_ctx=150)
    good = make_requests("greedy", n=1)[0]
    with Loop(backend) as loop:
        _, empty = loop.submit(replace(good, prompt="   "))
        _, long = loop.submit(replace(good, prompt="z" * 200))
        _, no_lame = loop.submit(Request("def f():\n", None, make_rule("uscd"), Sampler()))
        _, ok = loop.submit(good)
        wait_all([empty, long, no_lame, ok])
    assert empty.prepared is None and "empty" in str(empty.result)
    assert isinstance(long.result, PromptTooLong)
    assert "needs a lame prompt" in str(no_lame.result)
    assert ok.result.tokens


def test_the_token_limit_is_cut_to_the_context():
    backend = FakeBackend(n_ctx=80)
    request = replace(
        make_requests("greedy", n=1)[0], prompt="q" * 70, config=GenerationConfig(max_new_tokens=500)
    )
    with Loop(backend) as loop:
        _, rec = loop.submit(request)
        wait_all([rec])
    assert rec.prepared.request.config.max_new_tokens == 10
    assert not isinstance(rec.result, UscdError) and len(rec.result.tokens) <= 10


def test_a_failing_listener_cancels_its_request_not_the_loop():
    def explode(rec):
        raise RuntimeError("listener bug")

    requests = make_requests("greedy", n=2)
    with Loop(batch=2) as loop:
        _, bad = loop.submit(requests[0], listener=Recorder(explode))
        _, good = loop.submit(requests[1])
        wait_all([bad, good])
        wait_idle(loop.decoder)
        assert loop.thread.is_alive()
    assert isinstance(bad.result, Cancelled)
    assert good.result.tokens


def test_closing_the_feed_fails_what_is_left():
    gate = threading.Event()
    request = make_requests("greedy", n=1)[0]
    loop = Loop(batch=1)
    with loop:
        _, running = loop.submit(request, listener=Recorder(lambda rec: gate.wait(0.2)))
        _, queued = loop.submit(request)
        while not running.tokens:
            time.sleep(0.01)
    assert isinstance(running.result, ServerClosed) or not isinstance(running.result, UscdError)
    assert isinstance(queued.result, ServerClosed)
    with pytest.raises(ServerClosed):
        loop.feed.submit(Ticket(request, Recorder()))


@pytest.mark.parametrize(
    ("pieces", "stops"),
    [
        (["ab", "c\n", "de", "f"], ("\nd",)),
        (["x", "y", "z", "w"], ("yz", "zq")),
        (["#", "#", "#"], ("###",)),
        (["é", "à"], ()),
    ],
)
def test_settled_text_never_takes_back_what_was_sent(pieces, stops):
    text = CompletionText(stops)
    sent = ""
    for piece in pieces:
        stopped = text.add(piece.encode())
        if stopped:
            break
        settled = text.settled()
        assert settled.startswith(sent)
        sent = settled
    assert text.final(stopped).startswith(sent)
    for stop in stops:
        assert stop not in sent
