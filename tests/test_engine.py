"""The engine's shape on a fake model: branching in both drivers, auxiliary prompts by name,
declared capabilities, and the knobs the method grammar derives from the rule dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from tests.test_batched import FakeBackend, fake_logits, make_requests, single

from uscd.engine import BatchedDecoder, Decoder, Engine, GenerationConfig, Request
from uscd.errors import UscdError
from uscd.methods import Contrast, Greedy, Sampler, StdView, Step, make_rule
from uscd.methods.spec import parse_methods
from uscd.prompts.anchor import masked_prompt
from uscd.prompts.auxiliary import BUILDERS, aux_prompts
from uscd.tasks.base import Problem

PROMPT = "def f(x):\n    '''doc\n    >>> f(1)\n    3\n    '''\n"


def test_single_stream_branch_is_the_prefix_plus_its_tokens_and_leaves_the_stream_alone():
    dec = Decoder(FakeBackend())
    gen = dec.generate(PROMPT, None, Greedy(), Sampler(), GenerationConfig(max_new_tokens=12))
    held = list(dec.std.tokens)
    for n in (len(held), len(held) - 5, 3):
        branch = dec.fork(n)
        assert branch.tokens == held[:n]
        row = branch.extend([7, 8, 9])
        np.testing.assert_array_equal(row, fake_logits([*held[:n], 7, 8, 9]))
        branch.drop()
    assert dec.std.tokens == held  # the standard sequence is untouched
    again = dec.generate(PROMPT, None, Greedy(), Sampler(), GenerationConfig(max_new_tokens=12))
    assert again.tokens == gen.tokens


def test_batched_branch_from_a_hook_sees_the_request_prefix_and_changes_nothing():
    requests = make_requests("uscd", "lazy", n=5)
    plain = dict(BatchedDecoder(FakeBackend(), 3).generate_many(requests))
    bd = BatchedDecoder(FakeBackend(), 3, branches=1)
    checked = []

    def hook(index, step_index, view, aux, step, token):
        if step_index in (0, 4):
            branch = bd.fork(index)
            prefix = list(branch.tokens)
            np.testing.assert_array_equal(branch.extend([token, 11]), fake_logits([*prefix, token, 11]))
            branch.drop()
            checked.append((index, step_index, len(prefix)))

    forked = dict(bd.generate_many(make_requests("uscd", "lazy", n=5), hook=hook))
    assert {i: g.tokens for i, g in forked.items()} == {i: g.tokens for i, g in plain.items()}
    assert len(checked) >= 6 and any(step == 4 for _, step, _ in checked)
    prompt_lengths = {i: len(FakeBackend().tokenize(r.prompt)) for i, r in enumerate(requests)}
    for index, step_index, held in checked:
        assert held == prompt_lengths[index] + step_index  # prompt + the tokens chosen before this step


def test_batched_fork_needs_scratch_sequences():
    bd = BatchedDecoder(FakeBackend(), 2)
    with pytest.raises(UscdError, match="branches=1"):
        list(bd.generate_many(make_requests("greedy", "lazy", n=1), hook=lambda i, *a: bd.fork(i)))


@dataclass(frozen=True)
class TwoPrompts(Contrast):
    """A rule with two auxiliary prompts: contrast against their average (test only)."""

    name = "two-prompts"
    aux = ("lame", "masked")

    def score(self, std: StdView, aux_logits) -> Step:
        if aux_logits is None:
            return super().score(std, None)
        lame, masked = aux_logits
        return super().score(std, (lame + masked) / 2)


@dataclass(frozen=True)
class Unbuilt(Contrast):
    name = "unbuilt"
    aux = ("no-such-prompt",)


@pytest.mark.parametrize("sync", ["lazy", "eager"])
def test_a_rule_with_two_auxiliary_prompts_runs_in_both_drivers_alike(sync):
    rule = TwoPrompts(rho=0.7)
    config = GenerationConfig(max_new_tokens=30, sync=sync)
    aux = {"lame": "def f(x):\n    '''doc\n    '''\n", "masked": "def f(x):\n    '''\n    '''\n"}
    requests = [Request(PROMPT + "y" * i, aux, rule, Sampler(), config) for i in range(4)]
    one = single(FakeBackend(), requests)
    many = dict(BatchedDecoder(FakeBackend(), 2).generate_many(requests))
    assert [g.tokens for g in one] == [many[i].tokens for i in range(4)]
    assert sum(g.contrast_steps for g in one) > 0


def test_missing_or_empty_auxiliary_prompt_is_a_one_line_error():
    dec = Decoder(FakeBackend())
    with pytest.raises(UscdError, match="needs a masked prompt"):
        dec.generate(PROMPT, {"lame": "x"}, TwoPrompts(), Sampler())
    with pytest.raises(UscdError, match="the masked prompt is empty"):
        dec.generate(PROMPT, {"lame": "x", "masked": "  "}, TwoPrompts(), Sampler())


def test_auxiliary_prompts_come_from_their_builders():
    problem = Problem("t/0", PROMPT, "lame text", (), "f", "", "")
    assert aux_prompts(Greedy(), problem) == {}
    assert aux_prompts(make_rule("uscd"), problem) == {"lame": "lame text"}
    no_lame = Problem("t/1", PROMPT, None, (), "f", "", "")
    assert aux_prompts(make_rule("cd"), no_lame) == {}  # the engine then fails that request alone
    assert "lame" in BUILDERS
    assert aux_prompts(TwoPrompts(), problem) == {"lame": "lame text", "masked": masked_prompt(PROMPT)}
    with pytest.raises(UscdError, match="no builder"):
        aux_prompts(Unbuilt(), problem)


def test_engine_dispatches_by_batch_and_reuses_its_decoders():
    backend = FakeBackend()
    engine = Engine(backend)
    requests = make_requests("cd", "lazy", n=4)
    one = dict(engine.generate(requests, 1))
    assert engine.single is engine.single
    many = dict(engine.generate(requests, 2))
    assert engine.batched(2) is engine.batched(2)
    assert {i: g.tokens for i, g in one.items()} == {i: g.tokens for i, g in many.items()}
    assert not hasattr(backend, "_uscd_decoder") and not hasattr(backend, "_uscd_batched")


def test_a_backend_without_multi_sequence_gets_the_single_stream():
    from uscd.engine import choose_batch_size
    from uscd.engine.backends import Capabilities

    backend = FakeBackend()
    backend.capabilities = Capabilities(multi_sequence=False)
    assert choose_batch_size(backend) == 1
    with pytest.raises(UscdError, match="cannot decode several sequences"):
        BatchedDecoder(backend, 2)


def test_method_knobs_and_their_types_come_from_the_rule_dataclasses():
    assert make_rule("uscd").knob_types() == {
        "rho": float,
        "alpha": float,
        "measure": str,
        "threshold": float,
    }
    (spec,) = parse_methods("x=uscd-official:filter=0.5:weight=0.2")
    assert spec.knobs == {"filter_num": 0.5, "weight": 0.2}
    with pytest.raises(UscdError, match="unknown knob 'gamma' for rule uscd"):
        parse_methods("uscd:gamma=2")
    (cfg,) = parse_methods("cfg:gamma=2")
    assert cfg.build({}).gamma == 2.0


def test_bool_knobs_are_spelled_out():
    from dataclasses import dataclass as _dc

    from uscd.methods import RULES
    from uscd.methods.greedy import Greedy

    @_dc(frozen=True)
    class Flagged(Greedy):
        name = "flagged"
        strict: bool = False

    RULES["flagged"] = Flagged
    try:
        assert parse_methods("flagged:strict=false")[0].knobs == {"strict": False}
        assert parse_methods("flagged:strict=True")[0].knobs == {"strict": True}
        with pytest.raises(UscdError, match="true or false"):
            parse_methods("flagged:strict=yes")
    finally:
        del RULES["flagged"]
