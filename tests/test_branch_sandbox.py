"""The branch search with the real sandbox judge on a crafted prompt: a scripted model whose greedy
program is wrong by one uncertain token (`return x * 2` for "triple it"); its runner-up (`3`) passes
the prompt's doctests. The single-stream search, the search on a serve loop and a served request
all keep that branch."""

from __future__ import annotations

import numpy as np
import pytest
from tests.test_batched import FakeBackend
from tests.test_batched_serve import Loop, wait_idle

from uscd.engine import Decoder, GenerationConfig, Request
from uscd.methods import Sampler, make_rule
from uscd.search.branch import branch_generate
from uscd.search.decoders import FeedDecoder

PROMPT = "def f(x):\n    '''Triple it.\n    >>> f(1)\n    3\n    >>> f(2)\n    6\n    '''\n"
PIECES = {0: b"", 1: b"    return x * ", 2: b"2", 3: b"3", 4: b"\n", 5: b"    pass"}
FIRST_PROMPT_ID = 10
# the preferred tokens per step after the prompt: (token, logit); every other token gets -20
SCRIPT = {
    0: [(1, 10.0)],  # confident: no alternative in the head
    1: [(2, 2.0), (3, 1.6)],  # the one uncertain step: 2 (wrong) just ahead of 3 (right)
    2: [(4, 10.0)],
    3: [(0, 10.0)],  # end of text
}
V = FIRST_PROMPT_ID + 90


def scripted_logits(tokens) -> np.ndarray:
    step = 0
    while step < len(tokens) and tokens[-1 - step] < FIRST_PROMPT_ID:
        step += 1
    row = np.full(V, -20.0, dtype=np.float32)
    for token, logit in SCRIPT.get(step, [(0, 10.0)]):
        row[token] = logit
    return row


class Scripted(FakeBackend):
    vocab_size = V

    def tokenize(self, text):
        return [FIRST_PROMPT_ID + ord(c) % 90 for c in text]

    def piece(self, token):
        return PIECES.get(token, bytes([token]))

    def logits(self, tokens) -> np.ndarray:
        return scripted_logits(tokens)


def request() -> Request:
    return Request(PROMPT, None, make_rule("branch"), Sampler(), GenerationConfig(max_new_tokens=16))


def check_fixed(gen) -> None:
    assert gen.completion == "    return x * 3\n" and gen.search["a_completion"] == "    return x * 2\n"
    assert gen.search["outcome"] == "branch-passed" and gen.search["chosen"] == 0
    (tried,) = gen.search["branches"]
    assert (tried["step"], tried["text"], tried["checks"]["passed"]) == (1, "3", 2)
    assert gen.search["a_checks"]["passed"] == 0 and gen.search["executions"] == 2


def test_the_single_stream_search_keeps_the_branch_that_passes_in_the_sandbox():
    check_fixed(branch_generate(Decoder(Scripted()), request()))


def test_the_search_on_a_serve_loop_keeps_it_too():
    with Loop(Scripted(), batch=2) as loop:
        gen = branch_generate(FeedDecoder(loop.feed, loop.backend.piece), request())
        wait_idle(loop.decoder)
    check_fixed(gen)


def test_a_served_request_gets_the_fixed_program():
    pytest.importorskip("openai")
    from tests.test_serve import Live

    with Live(Scripted(), methods="greedy") as live:
        greedy = live.client.completions.create(model="fake-coder", prompt=PROMPT, max_tokens=16)
        out = live.client.completions.create(
            model="fake-coder", prompt=PROMPT, max_tokens=16, extra_body={"uscd": {"preset": "branch"}}
        )
    assert greedy.choices[0].text == "    return x * 2\n"
    assert out.choices[0].text == "    return x * 3\n"
    search = out.choices[0].model_extra["uscd"]["search"]
    assert search["outcome"] == "branch-passed" and search["tried"][0]["kept"] == "passes every check"
