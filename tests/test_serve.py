"""`uscd serve` on a fake model, driven over loopback with the official `openai` client: completions
and chat, whole and streamed, methods through extra_body, n > 1, stop sequences, every bad-input
class, a queue that answers 429, and a client that disconnects mid-stream (its slot is freed and
the next request is served)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass

import pytest
from tests.test_batched import FakeBackend, FakeMulti

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from uscd.engine import BatchedDecoder, GenerationConfig, Request  # noqa: E402
from uscd.methods import Sampler, make_rule  # noqa: E402
from uscd.prompts.lame import derive  # noqa: E402
from uscd.serve import ServeConfig, ServerMethods, create_app  # noqa: E402

PROMPT = "def add(a, b):\n    '''Add two numbers.\n    >>> add(1, 2)\n    3\n    '''\n"
WAIT = 30
JSON_HEADERS = {"content-type": "application/json"}


class ServeFake(FakeBackend):
    """The fake model of test_batched, with a chat tokenizer and, optionally, slow decodes and no EOS
    (so a request runs as long as a test needs it to)."""

    def __init__(self, n_ctx=4096, delay=0.0, endless=False):
        super().__init__(n_ctx)
        self.delay, self.endless = delay, endless

    def tokenize_special(self, text):
        return self.tokenize(text)

    def is_eog(self, token):
        return False if self.endless else super().is_eog(token)

    def multi_sequence(self, n_seq, n_ctx):
        ctx = SlowMulti(self, n_seq, n_ctx)
        self.contexts.append(ctx)
        return ctx


class SlowMulti(FakeMulti):
    def decode(self, items):
        if self.backend.delay:
            time.sleep(self.backend.delay)
        return super().decode(items)


@dataclass
class Raw:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def raw(base: str, method: str, path: str, body: bytes | dict | None = None, timeout: float = WAIT) -> Raw:
    """One plain HTTP exchange (to send what the official client never would)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.request(method, path, body=data, headers={"content-type": "application/json"})
        response = conn.getresponse()
        return Raw(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def stream_lines(base: str, body: dict, stop_after: int | None = None) -> tuple[dict, list[str]]:
    """POST a streaming request and read its SSE lines (closing the connection after `stop_after`)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=WAIT)
    try:
        conn.request(
            "POST", "/v1/completions", body=json.dumps(body), headers={"content-type": "application/json"}
        )
        response = conn.getresponse()
        lines = []
        while stop_after is None or len(lines) < stop_after:
            line = response.readline()
            if not line:
                break
            if line.strip():
                lines.append(line.decode().strip())
        return dict(response.getheaders()), lines
    finally:
        conn.close()


class Live:
    """A uvicorn server on 127.0.0.1 (a free port) in a thread, and clients for it."""

    def __init__(
        self, backend, *, batch=3, methods="uscd,greedy", model_id="fake-coder", timeout=WAIT, **config
    ) -> None:
        self.backend, self.timeout = backend, timeout
        cfg = ServeConfig(model_id=model_id, methods=ServerMethods(methods), batch_size=batch, **config)
        self.app = create_app(backend, cfg)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Live:
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started, "the server did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.client = openai.OpenAI(
            base_url=f"{self.base}/v1", api_key="unused", max_retries=0, timeout=self.timeout
        )
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)

    @property
    def scheduler(self):
        return self.app.state.uscd.scheduler

    def health(self) -> dict:
        return raw(self.base, "GET", "/health").json()

    def post(self, path: str, body) -> Raw:
        return raw(self.base, "POST", path, body)

    def wait_idle(self) -> None:
        deadline = time.monotonic() + WAIT
        while self.scheduler.decoder.in_flight() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.scheduler.decoder.in_flight() == 0, "a slot stayed taken"


@pytest.fixture(scope="module")
def live():
    with Live(ServeFake()) as server:
        yield server


@pytest.fixture(scope="module")
def endless():
    """A server whose fake model never ends a completion by itself (long texts for stop sequences)."""
    with Live(ServeFake(endless=True)) as server:
        yield server


def engine_tokens(prompt, rule="uscd", max_new=16, lame=None, stop=(), **knobs):
    """What the batched engine generates for one request on the same fake model."""
    rule_obj = make_rule(rule, **knobs)
    lame = (lame or derive(prompt, "python").lame) if rule_obj.aux else None
    req = Request(prompt, lame, rule_obj, Sampler(), GenerationConfig(max_new_tokens=max_new, stop=stop))
    ((_, gen),) = list(BatchedDecoder(ServeFake(), 1).generate_many([req]))
    return gen


# -- the happy paths -------------------------------------------------------------------------------


def test_models_and_health(live):
    models = live.client.models.list()
    (model,) = models.data
    assert model.id == "fake-coder"
    assert model.model_extra["uscd"]["default"] == "uscd"
    health = live.health()
    assert health["status"] == "ok" and health["in_flight"] == 0 and health["batch"] == 3


def test_completion_is_what_the_engine_generates_with_the_default_method(live):
    out = live.client.completions.create(model="fake-coder", prompt=PROMPT, max_tokens=24)
    gen = engine_tokens(PROMPT, "uscd", 24)
    (choice,) = out.choices
    assert choice.text == gen.completion
    assert choice.finish_reason == {"eos": "stop", "stop": "stop", "length": "length"}[gen.finish_reason]
    assert out.usage.prompt_tokens == gen.prompt_tokens
    assert out.usage.completion_tokens == len(gen.tokens)
    assert out.usage.total_tokens == gen.prompt_tokens + len(gen.tokens)
    report = choice.model_extra["uscd"]
    assert report["steps"] == gen.steps and report["contrast_steps"] == gen.contrast_steps
    assert report["lame_prompt"] == "derived" and report["lame_noop"] is False
    assert out.model_extra["uscd"]["rule"] == "uscd"


def test_method_selection_through_extra_body(live):
    greedy = live.client.completions.create(
        model="fake-coder", prompt=PROMPT, max_tokens=30, extra_body={"uscd": {"method": "greedy"}}
    )
    assert greedy.choices[0].text == engine_tokens(PROMPT, "greedy", 30).completion
    assert greedy.choices[0].model_extra["uscd"]["contrast_steps"] == 0
    assert greedy.choices[0].model_extra["uscd"]["tokens_changed"] == 0
    lame = PROMPT.replace("    >>> add(1, 2)\n    3\n", "")
    cd = live.client.completions.create(
        model="fake-coder",
        prompt=PROMPT,
        max_tokens=30,
        extra_body={"uscd": {"rule": "cd", "rho": 0.3, "lame_prompt": lame}},
    )
    expected = engine_tokens(PROMPT, "cd", 30, lame=lame, rho=0.3)
    assert cd.model_extra["uscd"]["knobs"] == {"rho": 0.3, "alpha": 0.1}
    assert cd.choices[0].model_extra["uscd"]["lame_prompt"] == "given"
    assert cd.choices[0].model_extra["uscd"]["contrast_steps"] == expected.contrast_steps > 0
    assert cd.choices[0].text == expected.completion
    changed = [
        live.client.completions.create(
            model="fake-coder", prompt=PROMPT, max_tokens=30, extra_body={"uscd": {"rule": "cd", "rho": rho}}
        ).choices[0]
        for rho in (0.0, 2.0)
    ]
    assert changed[0].model_extra["uscd"]["tokens_changed"] == 0  # rho 0 is exactly greedy
    assert changed[0].text == greedy.choices[0].text
    assert changed[1].model_extra["uscd"]["tokens_changed"] > 0


def test_streamed_completion_equals_the_whole_one(live):
    kw = dict(model="fake-coder", prompt=PROMPT, max_tokens=40, stop=["q"])
    whole = live.client.completions.create(**kw)
    chunks = list(live.client.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert len([c for c in chunks if c.choices and c.choices[0].text]) > 2  # really streamed


def test_the_stream_is_openai_sse_ending_with_done(live):
    body = {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 8, "stream": True}
    headers, lines = stream_lines(live.base, body)
    assert headers["content-type"].startswith("text/event-stream")
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    first = json.loads(lines[0][6:])
    assert first["object"] == "text_completion" and first["id"].startswith("cmpl-")


def test_stop_sequences_cut_the_text_in_both_modes(endless):
    live = endless
    free = live.client.completions.create(
        model="fake-coder", prompt=PROMPT, max_tokens=60, extra_body={"uscd": {"method": "greedy"}}
    ).choices[0]
    assert len(free.text) > 30 and free.finish_reason == "length"
    stop = free.text[20:22]
    kw = dict(
        model="fake-coder",
        prompt=PROMPT,
        max_tokens=60,
        stop=[stop],
        extra_body={"uscd": {"method": "greedy"}},
    )
    whole = live.client.completions.create(**kw).choices[0]
    streamed = "".join(
        c.choices[0].text for c in live.client.completions.create(stream=True, **kw) if c.choices
    )
    assert whole.text == free.text[: free.text.index(stop)] == streamed
    assert whole.finish_reason == "stop" and stop not in streamed


def test_n_choices_with_seeds_and_usage(live):
    out = live.client.completions.create(
        model="fake-coder", prompt=PROMPT, max_tokens=20, n=4, temperature=1.0, seed=7
    )
    assert [c.index for c in out.choices] == [0, 1, 2, 3]
    assert len({c.text for c in out.choices}) > 1  # seed + k per choice
    again = live.client.completions.create(
        model="fake-coder", prompt=PROMPT, max_tokens=20, n=4, temperature=1.0, seed=7
    )
    assert [c.text for c in again.choices] == [c.text for c in out.choices]
    prompt_tokens = len(ServeFake().tokenize(PROMPT))
    assert out.usage.prompt_tokens == prompt_tokens  # counted once for the n samples
    streamed = list(
        live.client.completions.create(
            model="fake-coder", prompt=PROMPT, max_tokens=20, n=4, temperature=1.0, seed=7, stream=True
        )
    )
    texts = [
        "".join(c.choices[0].text for c in streamed if c.choices and c.choices[0].index == i)
        for i in range(4)
    ]
    assert texts == [c.text for c in out.choices]


def test_chat_whole_and_streamed(endless):
    live = endless
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write add.\n" + PROMPT},
    ]
    whole = live.client.chat.completions.create(model="fake-coder", messages=messages, max_tokens=20)
    (choice,) = whole.choices
    assert whole.object == "chat.completion" and choice.message.role == "assistant"
    assert choice.message.content
    chunks = list(
        live.client.chat.completions.create(model="fake-coder", messages=messages, max_tokens=20, stream=True)
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == choice.message.content
    assert choice.model_extra["uscd"]["lame_prompt"] == "derived"
    assert choice.model_extra["uscd"]["lame_noop"] is False  # the doctest left the last user message
    rendered = live.app.state.uscd.template.render(messages)
    assert whole.usage.prompt_tokens == len(ServeFake().tokenize(rendered))


def test_logprobs_are_the_standard_prompt_log_probabilities(live):
    out = live.client.completions.create(
        model="fake-coder", prompt=PROMPT, max_tokens=6, logprobs=2, extra_body={"uscd": {"method": "greedy"}}
    )
    lp = out.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == out.usage.completion_tokens
    assert all(v <= 0 for v in lp.token_logprobs)
    assert all(len(top) <= 2 and max(top.values()) <= 0 for top in lp.top_logprobs)
    chat = live.client.chat.completions.create(
        model="fake-coder",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
        logprobs=True,
        top_logprobs=3,
    )
    content = chat.choices[0].logprobs.content
    assert content and all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in content)


# -- bad input --------------------------------------------------------------------------------------


def _error(exc_info) -> dict:
    return exc_info.value.response.json()["error"]


def test_unknown_model_is_404(live):
    with pytest.raises(openai.NotFoundError) as err:
        live.client.completions.create(model="gpt-9", prompt=PROMPT)
    assert _error(err)["code"] == "model_not_found"


def test_unknown_knob_unknown_method_and_bad_knob_values_are_400(live):
    for extra in (
        {"uscd": {"rhoo": 1}},
        {"uscd": {"method": "nope"}},
        {"uscd": {"rule": "nope"}},
        {"uscd": {"rho": -1}},
    ):
        with pytest.raises(openai.BadRequestError) as err:
            live.client.completions.create(model="fake-coder", prompt=PROMPT, extra_body=extra)
        assert _error(err)["param"].startswith("uscd"), extra
    assert _error(err)["code"] == "invalid_knob"


def test_bad_types_are_422(live):
    for body in (
        {"model": "fake-coder", "prompt": PROMPT, "max_tokens": "many"},
        {"model": "fake-coder", "prompt": PROMPT, "temperature": -1},
        {"model": "fake-coder", "prompt": 5},
        {"model": "fake-coder", "prompt": PROMPT, "uscd": {"rho": "high"}},
        {"model": "fake-coder", "messages": []},
    ):
        path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
        response = live.post(path, body)
        assert response.status == 422, body
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_malformed_json_is_400(live):
    for data in (b"{not json", b"[1, 2]", b""):
        response = live.post("/v1/completions", data)
        assert response.status == 400, data
        assert response.json()["error"]["code"] == "invalid_json"


def test_prompt_longer_than_the_context_is_400_in_both_modes(live):
    long = "x" * 5000
    with pytest.raises(openai.BadRequestError) as err:
        live.client.completions.create(model="fake-coder", prompt=long)
    assert _error(err)["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        live.client.completions.create(model="fake-coder", prompt=long, stream=True)
    with pytest.raises(openai.BadRequestError):
        live.client.chat.completions.create(model="fake-coder", messages=[{"role": "user", "content": long}])


def test_empty_prompt_and_empty_stop_are_400(live):
    with pytest.raises(openai.BadRequestError):
        live.client.completions.create(model="fake-coder", prompt="   ")
    with pytest.raises(openai.BadRequestError):
        live.client.completions.create(model="fake-coder", prompt=PROMPT, stop=[""])


def test_unknown_routes_answer_openai_errors(live):
    response = raw(live.base, "GET", "/v1/nothing")
    assert response.status == 404 and "error" in response.json()


def test_after_every_bad_request_the_server_serves_and_holds_no_slot(live):
    live.wait_idle()
    assert live.health()["engine_alive"]
    out = live.client.completions.create(model="fake-coder", prompt=PROMPT, max_tokens=5)
    assert out.choices[0].text is not None


# -- load: concurrency, the queue, disconnects ---------------------------------------------------------


def test_concurrent_requests_share_the_batch_and_get_their_own_results(live):
    prompts = [PROMPT.replace("add", f"add{i}") for i in range(9)]
    results = [None] * len(prompts)

    def call(i):
        results[i] = live.client.completions.create(
            model="fake-coder", prompt=prompts[i], max_tokens=20, extra_body={"uscd": {"method": "greedy"}}
        )

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    for i, out in enumerate(results):
        assert out is not None and out.choices[0].text == engine_tokens(prompts[i], "greedy", 20).completion
    live.wait_idle()


def test_a_client_that_disconnects_mid_stream_frees_its_slot():
    with Live(ServeFake(delay=0.002, endless=True), batch=1) as server:
        body = {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 3000, "stream": True}
        _, got = stream_lines(server.base, body, stop_after=6)
        assert len(got) == 6 and any(line.startswith("data: {") for line in got)
        server.wait_idle()  # the one slot is free again, long before the 3000 tokens
        (ctx,) = server.backend.contexts
        assert all(not tokens for tokens in ctx.tokens)  # its KV cells were given back
        out = server.client.completions.create(model="fake-coder", prompt=PROMPT, max_tokens=5)
        assert out.usage.completion_tokens == 5
        assert server.scheduler.outcomes["Cancelled"] == 1


def test_a_streamed_request_whose_client_leaves_while_it_waits_leaves_the_queue():
    """The client hangs up before its first chunk, while every slot is taken: the request is cancelled
    there and then, not when a slot frees and its first write fails."""
    with Live(ServeFake(delay=0.002, endless=True), batch=1) as server:
        body = {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 3000, "stream": True}
        host, port = server.base.removeprefix("http://").split(":")
        holder = http.client.HTTPConnection(host, int(port), timeout=WAIT)
        holder.request("POST", "/v1/completions", body=json.dumps(body), headers=JSON_HEADERS)
        held = holder.getresponse()
        assert held.readline()  # the one slot is decoding for `holder`
        waiter = http.client.HTTPConnection(host, int(port), timeout=WAIT)
        waiter.request("POST", "/v1/completions", body=json.dumps(body), headers=JSON_HEADERS)
        _until(lambda: server.scheduler.feed.waiting() == 1)
        waiter.close()  # before any chunk of its own
        _until(lambda: server.scheduler.feed.waiting() == 0)
        assert server.scheduler.decoder.in_flight() == 1  # `holder` still decodes
        holder.close()
        server.wait_idle()
        assert server.health()["outcomes"].get("Cancelled") == 2


def _until(condition) -> None:
    deadline = time.monotonic() + WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def test_a_client_that_gives_up_on_a_whole_response_frees_its_slot():
    with Live(ServeFake(delay=0.002, endless=True), batch=1) as server:
        body = {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 3000}
        with pytest.raises((TimeoutError, socket.timeout)):
            raw(server.base, "POST", "/v1/completions", body, timeout=0.5)
        server.wait_idle()
        out = server.client.completions.create(model="fake-coder", prompt=PROMPT, max_tokens=5)
        assert out.usage.completion_tokens == 5


def test_a_full_queue_answers_429_and_deadlines_504():
    with Live(ServeFake(delay=0.002, endless=True), batch=1, max_waiting=1, deadline_s=1.0) as server:
        body = {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 3000}
        statuses = []

        def call():
            statuses.append(server.post("/v1/completions", body).status)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert statuses.count(429) >= 1  # one runs, one waits, the others find the queue full
        assert statuses.count(504) >= 1  # 3000 slow tokens run past the 1 s deadline
        assert set(statuses) <= {429, 504}
        server.wait_idle()
        assert server.health()["engine_alive"]


@pytest.mark.parametrize(
    ("content", "noop"),
    [
        ("Write add(a, b).\n\nExample:\nadd(1, 2) -> 3\n", False),  # prose examples
        ("Complete:\n```python\n" + PROMPT + "```\n", False),  # a doctest in pasted code
        ("Write a function that adds two numbers.", True),  # nothing to remove
    ],
)
def test_a_chat_lame_prompt_is_derived_from_the_last_user_message(endless, content, noop):
    out = endless.client.chat.completions.create(
        model="fake-coder", messages=[{"role": "user", "content": content}], max_tokens=3
    )
    assert out.choices[0].model_extra["uscd"]["lame_noop"] is noop


# -- start-up ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "uscd:rhoo=1"], "unknown knob"),
        (["--method", "paper=uscd:lame=official"], "derives lame prompts"),
        (["--method", "cd:rho=-1"], "rho must be"),
        (["--deadline", "-1"], "--deadline"),
        (["--port", "0"], "--port"),
    ],
)
def test_bad_start_up_options_are_one_line_errors_before_the_model_loads(capsys, argv, message):
    from uscd.cli import main

    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_a_port_in_use_is_a_one_line_error(capsys):
    from uscd.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--method", "greedy"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"cannot listen on 127.0.0.1:{port}" in err


def test_an_unknown_knob_error_lists_the_rules_own_knobs(live):
    with pytest.raises(openai.BadRequestError) as err:
        live.client.completions.create(
            model="fake-coder", prompt=PROMPT, extra_body={"uscd": {"rule": "greedy", "rhoo": 1}}
        )
    assert _error(err)["message"].endswith("known: method, rule, preset, lame_prompt, language")
    with pytest.raises(openai.BadRequestError) as err:
        live.client.completions.create(model="fake-coder", prompt=PROMPT, extra_body={"uscd": {"rhoo": 1}})
    assert "rho, alpha, measure, threshold" in _error(err)["message"]
