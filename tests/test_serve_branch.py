"""`uscd serve` with the branch method, on the fake model over loopback with the official `openai`
client: a server method and a request's `uscd` object reach the search, which answers what the
single-stream search answers (the checks run in the real sandbox: the fake model writes letters,
so every program fails them and A is kept after the budget of branches); streamed requests get the
chosen program in one chunk; a chat's search reads its last user message's examples and runs them on
the reply's code; a MultiPL-E completion's, its translated examples; unknown languages, a chat in
another language than Python and logprobs are refused in one line; a client
that goes away or a deadline stops the search and frees its slot."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from tests.test_serve import PROMPT, WAIT, Live, ServeFake, engine_tokens, raw, stream_lines

openai = pytest.importorskip("openai")

from uscd.engine import Decoder, GenerationConfig, Request  # noqa: E402
from uscd.methods import Sampler, make_rule  # noqa: E402
from uscd.search import run_search  # noqa: E402

COUNTERS = ("outcome", "checks", "passed", "chosen", "branches_tried", "programs", "executions")


def single_stream(max_branches: int, max_new: int = 24):
    rule = make_rule("branch", max_branches=max_branches)
    req = Request(PROMPT, None, rule, Sampler(), GenerationConfig(max_new_tokens=max_new, trace=False))
    return run_search(Decoder(ServeFake()), req)


@pytest.fixture(scope="module")
def server():
    with Live(ServeFake(), methods="b=branch:max_branches=2,greedy") as live:
        yield live


def test_a_server_branch_method_answers_what_the_single_stream_search_does(server):
    out = server.client.completions.create(model="fake-coder", prompt=PROMPT, max_tokens=24)
    expected = single_stream(2)
    (choice,) = out.choices
    assert choice.text == expected.completion
    report = choice.model_extra["uscd"]
    assert report["steps"] == expected.steps
    search = report["search"]
    assert {k: search[k] for k in COUNTERS} == {k: expected.search[k] for k in COUNTERS}
    assert search["outcome"] == "a-kept" and search["programs"] == 3 and search["chosen"] == -1
    assert search["tokens_decoded"] == expected.search["tokens_decoded"] > 0
    assert [t["step"] for t in search["tried"]] == [b["step"] for b in expected.search["branches"]]
    assert all(t["dropped"].startswith("passes 0 of") for t in search["tried"])
    assert out.model_extra["uscd"]["rule"] == "branch" and out.model_extra["uscd"]["method"] == "b"
    assert out.usage.completion_tokens == len(expected.tokens)
    server.wait_idle()
    assert server.health()["outcomes"]["served"] >= 3  # every program of the search is tallied


def test_a_request_chooses_the_branch_method_by_rule_or_by_label(live_default):
    by_rule = live_default.client.completions.create(
        model="fake-coder",
        prompt=PROMPT,
        max_tokens=24,
        extra_body={"uscd": {"rule": "branch", "max_branches": 1}},
    )
    expected = single_stream(1)
    assert by_rule.choices[0].text == expected.completion
    assert by_rule.choices[0].model_extra["uscd"]["search"]["branches_tried"] == 1


def test_a_request_asks_for_the_models_preset(live_default):
    out = live_default.client.completions.create(
        model="fake-coder", prompt=PROMPT, max_tokens=12, extra_body={"uscd": {"preset": "branch"}}
    )
    assert (
        out.model_extra["uscd"]["method"] == "@branch"
        and out.model_extra["uscd"]["knobs"]["max_branches"] == 6
    )
    assert out.choices[0].text == single_stream(6, 12).completion
    assert out.choices[0].model_extra["uscd"]["search"]["programs"] >= 1


def test_the_method_label_and_knobs_of_the_server(server):
    out = server.client.completions.create(
        model="fake-coder",
        prompt=PROMPT,
        max_tokens=24,
        extra_body={"uscd": {"method": "b", "max_branches": 1}},
    )
    assert out.choices[0].model_extra["uscd"]["search"]["branches_tried"] == 1
    assert out.model_extra["uscd"]["method"] == "b*"
    greedy = server.client.completions.create(
        model="fake-coder", prompt=PROMPT, max_tokens=24, extra_body={"uscd": {"method": "greedy"}}
    )
    assert greedy.choices[0].text == engine_tokens(PROMPT, "greedy", 24).completion
    assert "search" not in greedy.choices[0].model_extra["uscd"]


def test_a_streamed_branch_request_sends_the_chosen_program_in_one_chunk(server):
    body = {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 24, "stream": True}
    body["stream_options"] = {"include_usage": True}
    headers, lines = stream_lines(server.base, body)
    assert headers["content-type"].startswith("text/event-stream") and lines[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    (text_chunk, usage_chunk) = events
    (choice,) = text_chunk["choices"]
    expected = single_stream(2)
    assert choice["text"] == expected.completion and choice["finish_reason"] is not None
    assert choice["uscd"]["search"]["outcome"] == "a-kept"
    assert usage_chunk["usage"]["completion_tokens"] == len(expected.tokens)


def test_n_choices_and_echo(server):
    out = server.client.completions.create(
        model="fake-coder",
        prompt=PROMPT,
        max_tokens=24,
        n=2,
        echo=True,
        extra_body={"uscd": {"max_branches": 1}},
    )
    expected = single_stream(1)
    assert [c.text for c in out.choices] == [PROMPT + expected.completion] * 2  # greedy: the same program
    assert out.usage.prompt_tokens == expected.prompt_tokens


@pytest.fixture(scope="module")
def endless_server():
    """The fake model never ends a reply by itself (its chat reply would otherwise end at once)."""
    with Live(ServeFake(endless=True), methods="b=branch:max_branches=2,greedy") as live:
        yield live


def test_a_chat_searches_with_its_messages_examples_on_the_replys_code(endless_server):
    """The fake model's reply fails the message's examples, so every branch is tried and A — the
    reply greedy decoding gives the same chat — is kept."""
    server = endless_server
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write add.\n" + PROMPT},
    ]
    out = server.client.chat.completions.create(model="fake-coder", messages=messages, max_tokens=24)
    greedy = server.client.chat.completions.create(
        model="fake-coder", messages=messages, max_tokens=24, extra_body={"uscd": {"method": "greedy"}}
    )
    (choice,) = out.choices
    assert choice.message.role == "assistant" and choice.message.content == greedy.choices[0].message.content
    search = choice.model_extra["uscd"]["search"]
    assert search["checks"] == 1 and search["outcome"] == "a-kept"  # add(1, 2) -> 3
    assert search["programs"] == 3 and len(search["tried"]) == 2
    assert out.model_extra["uscd"]["rule"] == "branch" and out.object == "chat.completion"
    assert out.usage.completion_tokens == greedy.usage.completion_tokens  # A's tokens
    server.wait_idle()


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": PROMPT}], "logprobs": True},
            "logprobs are not reported",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": PROMPT}], "uscd": {"language": "js"}},
            "Python task text only",
        ),
        ("/v1/completions", {"prompt": PROMPT, "uscd": {"language": "cobol"}}, "unknown prompt language"),
        ("/v1/completions", {"prompt": PROMPT, "uscd": {"language": "rkt"}}, "reads examples from"),
        ("/v1/completions", {"prompt": PROMPT, "logprobs": 2}, "logprobs are not reported"),
    ],
)
def test_what_the_search_cannot_do_is_a_one_line_400(server, path, body, needle):
    got = server.post(path, {"model": "fake-coder", **body})
    assert got.status == 400
    message = got.json()["error"]["message"]
    assert needle in message and "\n" not in message
    assert server.health()["in_flight"] == 0


def test_a_multipl_e_completion_searches_with_its_translated_examples(server):
    """`uscd.language` names a MultiPL-E language: the checks are the prompt's translated examples,
    run by that language's toolchain in the sandbox (the fake's programs fail them: A is kept)."""
    from uscd.execution import languages

    try:
        languages.require("js")
    except languages.ToolchainMissing as exc:
        pytest.skip(str(exc))
    prompt = "// >>> f(1)\n// 3\n// >>> f(2)\n// 6\nfunction f(x){\n"
    out = server.client.completions.create(
        model="fake-coder", prompt=prompt, max_tokens=12, extra_body={"uscd": {"language": "js"}}
    )
    search = out.choices[0].model_extra["uscd"]["search"]
    assert search["checks"] == 2 and search["outcome"] == "a-kept" and search["programs"] == 3


def test_other_requests_decode_in_the_same_batch_as_a_search(server):
    results: dict = {}

    def search():
        results["branch"] = server.client.completions.create(model="fake-coder", prompt=PROMPT, max_tokens=24)

    thread = threading.Thread(target=search)
    thread.start()
    greedy = [
        server.client.completions.create(
            model="fake-coder",
            prompt=PROMPT + "y" * i,
            max_tokens=20,
            extra_body={"uscd": {"method": "greedy"}},
        )
        for i in range(3)
    ]
    thread.join(WAIT)
    assert results["branch"].choices[0].text == single_stream(2).completion
    for i, out in enumerate(greedy):
        assert out.choices[0].text == engine_tokens(PROMPT + "y" * i, "greedy", 20).completion


def test_a_client_that_goes_away_stops_the_search_and_frees_its_slot():
    with Live(ServeFake(delay=0.002, endless=True), batch=1, methods="branch") as live:
        feed = live.scheduler.feed
        submitted = []
        submit = feed.submit
        feed.submit = lambda ticket: submitted.append(ticket) or submit(ticket)
        body = {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 3000}
        with pytest.raises((TimeoutError, socket.timeout)):
            raw(live.base, "POST", "/v1/completions", body, timeout=0.5)
        live.wait_idle()
        # A's ticket (3000 slow tokens) was cancelled in flight; no branch was ever submitted
        (ticket,) = submitted
        assert ticket.cancelled and feed.waiting() == 0
        health = live.health()
        assert health["engine_alive"] and health["in_flight"] == 0
        assert health["outcomes"] == {"Cancelled": 1}
        out = live.client.completions.create(
            model="fake-coder", prompt=PROMPT, max_tokens=3, extra_body={"uscd": {"rule": "greedy"}}
        )
        assert out.usage.completion_tokens == 3


def test_a_search_past_its_deadline_is_504():
    with Live(ServeFake(delay=0.002, endless=True), batch=1, methods="branch", deadline_s=0.5) as live:
        got = live.post("/v1/completions", {"model": "fake-coder", "prompt": PROMPT, "max_tokens": 3000})
        assert got.status == 504 and got.json()["error"]["code"] == "deadline_exceeded"
        live.wait_idle()


@pytest.fixture(scope="module")
def live_default():
    with Live(ServeFake()) as live:
        yield live
