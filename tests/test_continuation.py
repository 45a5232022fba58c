"""Continuation requests (a request that carries tokens already chosen after its prompt) on the
fake model: ``Decoder.branch`` equals a continuation request on the single decoder, on the batched
decoder and in its serve loop — including a forced token that completes a stop sequence, one at the
token limit and an end-of-text token — and auxiliary lanes see the continuation too."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from tests.test_batched import EOS, FakeBackend, V, fake_logits
from tests.test_batched_serve import Loop, wait_all, wait_idle

from uscd.engine import BatchedDecoder, Decoder, GenerationConfig, PromptTooLong, Request
from uscd.errors import UscdError
from uscd.methods import Sampler, make_rule

PROMPT = "def f(x):\n    '''Triple it.\n    >>> f(1)\n    3\n    '''\n"
LAME = "def f(x):\n    '''Triple it.\n    '''\n"
CONFIG = GenerationConfig(max_new_tokens=30, stop=("qq",))


def long_logits(tokens) -> np.ndarray:
    row = fake_logits(tokens)
    row[EOS] -= 100.0  # past 60 tokens the fake model ends at once: keep programs going here
    return row


class Fake(FakeBackend):
    """The fake model of tests/test_batched.py with end-of-text suppressed, in both drivers."""

    def logits(self, tokens) -> np.ndarray:
        return long_logits(tokens)


def request(rule="greedy", config=CONFIG, continuation=()) -> Request:
    rule = make_rule(rule)
    return Request(PROMPT, LAME if rule.aux else None, rule, Sampler(), config, continuation)


def outcome(gen) -> tuple:
    return gen.tokens, gen.completion, gen.finish_reason, gen.steps


def stop_completing_case(base, backend) -> tuple[int, int, GenerationConfig]:
    """A step and token whose piece completes a stop sequence (the previous piece + its own) that
    the base generation never wrote: the config with that stop sequence leaves the base as it is."""
    text = "".join(backend.piece(t).decode() for t in base.tokens)
    for at in range(3, len(base.tokens)):
        previous = backend.piece(base.tokens[at - 1]).decode()
        for token in range(1, V):
            stop = previous + backend.piece(token).decode()
            if token != base.tokens[at] and stop not in text and "\n" not in stop:
                return at, token, replace(CONFIG, stop=(stop,))
    raise AssertionError("no such case on the fake model")  # pragma: no cover


def cases(rule: str):
    """(config, at, token): ordinary branches, an end-of-text token, the token limit, a stop."""
    backend = Fake()
    base = Decoder(backend).run(request(rule))
    assert base.finish_reason == "length" and len(base.tokens) == CONFIG.max_new_tokens
    limit = CONFIG.max_new_tokens
    out = [(CONFIG, at, token) for at in (0, 1, 7) for token in (3, 17)]
    out += [(CONFIG, 4, EOS), (CONFIG, limit - 1, 9), (CONFIG, limit - 2, 9)]
    at, token, config = stop_completing_case(base, backend)
    return [*out, (config, at, token)]


def branched(rule: str, config, at: int, token: int):
    dec = Decoder(Fake())
    req = request(rule, config)
    base = dec.run(req)
    return base, dec.branch(req, base, at, token)


@pytest.mark.parametrize("rule", ["greedy", "uscd"])
def test_a_branch_is_a_continuation_request_on_every_driver(rule):
    runs = cases(rule)
    reasons = set()
    requests, expected = [], []
    for config, at, token in runs:
        base, branch = branched(rule, config, at, token)
        req = request(rule, config, (*base.tokens[:at], token))
        single = Decoder(Fake()).run(req)
        assert outcome(single) == outcome(branch), (at, token)
        # the continuation's steps are not decided here: the decoded steps trace the same
        assert single.trace == branch.trace[at + 1 :]
        requests.append(req)
        expected.append(outcome(branch))
        reasons.add(branch.finish_reason)
    assert reasons == {"eos", "length", "stop"}
    batched = dict(BatchedDecoder(Fake(), 3).generate_many(requests))
    assert [outcome(batched[i]) for i in range(len(requests))] == expected
    with Loop(Fake(), batch=2) as loop:
        recs = [loop.submit(r)[1] for r in requests]
        wait_all(recs)
        wait_idle(loop.decoder)
    assert [outcome(rec.result) for rec in recs] == expected


def test_the_forced_token_that_completes_a_stop_sequence_ends_the_generation():
    *_, (config, at, token) = cases("greedy")
    base, branch = branched("greedy", config, at, token)
    assert branch.finish_reason == "stop" and branch.steps == at + 1
    base_text = "".join(Fake().piece(t).decode() for t in base.tokens)
    assert branch.completion == base_text[: at - 1]  # cut where the stop sequence begins
    assert branch.tokens == [*base.tokens[:at], token]


def test_the_continuation_counts_against_the_token_limit():
    req = request(continuation=tuple(range(1, 11)), config=replace(CONFIG, max_new_tokens=6))
    for gen in (Decoder(Fake()).run(req), next(iter(BatchedDecoder(Fake(), 1).generate_many([req])))[1]):
        assert gen.tokens == list(range(1, 7)) and gen.finish_reason == "length" and gen.steps == 6


@pytest.mark.parametrize("sync", ["lazy", "eager"])
def test_auxiliary_lanes_are_conditioned_on_the_continuation(sync):
    """Every lame row the rule reads is the fake model's row for the lame prompt + every token
    chosen so far, the continuation included, on both drivers."""
    backend = Fake()
    cont = (3, 17, 4, 9)
    req = request("uscd", config=replace(CONFIG, sync=sync), continuation=cont)
    lame = backend.tokenize(LAME)
    for driver in ("single", "batched"):
        seen: list = []

        def hook(*args, seen=seen):
            index, _, aux, _, _ = args[-5:]
            if aux is not None:
                seen.append((index, np.array(aux)))

        if driver == "single":
            gen = Decoder(Fake()).run(req, hook)
        else:
            ((_, gen),) = list(BatchedDecoder(Fake(), 2).generate_many([req], hook))
        assert gen.tokens[: len(cont)] == list(cont) and seen
        for index, row in seen:
            np.testing.assert_array_equal(row, long_logits(lame + gen.tokens[:index]))


def test_a_bad_continuation_is_refused_in_one_line():
    backend = Fake(n_ctx=len(Fake().tokenize(PROMPT)) + 5)
    for cont, error, needle in (
        ((3, V), UscdError, "not a token id"),
        ((3, -1), UscdError, "not a token id"),
        ((1,) * 5, PromptTooLong, "prompt and its continuation are"),
    ):
        req = request(continuation=cont)
        with pytest.raises(error, match=needle) as info:
            Decoder(backend).run(req)
        assert "\n" not in str(info.value)
        ((_, got),) = list(BatchedDecoder(backend, 1).generate_many([req]))
        assert isinstance(got, error) and needle in str(got)
    fits = request(continuation=(1,) * 4, config=replace(CONFIG, max_new_tokens=5))
    assert Decoder(backend).run(fits).steps == 5


def test_a_branch_request_is_refused_past_the_end_or_for_a_rule_that_looks_ahead():
    from uscd.engine.request import branched

    req = request()
    assert branched(req, [4, 5, 6], 2, 9).continuation == (4, 5, 9)
    with pytest.raises(UscdError, match="cannot branch at step 4"):
        branched(req, [4, 5, 6], 4, 9)
    with pytest.raises(UscdError, match="looks ahead"):
        branched(request("adadec"), [4, 5, 6], 1, 9)
