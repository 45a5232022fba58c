"""A generation request and its preparation: validation, tokenisation and prompt checks, in one
place for both drivers (and the server)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from numbers import Integral

from uscd.engine.generation import GenerationConfig
from uscd.errors import UscdError
from uscd.methods import Rule, Sampler

# a prompt is text, or token ids already (model.generate(custom_generate=...) hands over ids)
Prompt = str | tuple[int, ...]
AuxPrompts = Mapping[str, Prompt] | str | None


@dataclass(frozen=True)
class Request:
    """One generation. ``aux_prompts``: the auxiliary prompts by name (``{"lame": ...}``); a plain
    string is the lame prompt, None is none. A prompt given as a tuple of token ids is used as is.

    ``continuation``: tokens already chosen after the prompt (a branch: another generation's first
    tokens and a forced one). They are the generation's first tokens — in its tokens, completion
    text, stop-sequence checks, step count and token limit — and decoding goes on after them."""

    prompt: Prompt
    aux_prompts: AuxPrompts
    rule: Rule
    sampler: Sampler = field(default_factory=Sampler)
    config: GenerationConfig = field(default_factory=GenerationConfig)
    continuation: tuple[int, ...] = ()
    # a program search's subject (uscd.search.subject.Subject): where its checks come from and what
    # program a completion stands for; None: the completion prompt's own. Decoding never reads it.
    subject: object | None = field(default=None, compare=False)

    def aux_prompt(self, name: str) -> Prompt | None:
        aux = self.aux_prompts
        if aux is None:
            return None
        if isinstance(aux, str):
            return aux if name == "lame" else None
        return aux.get(name)


def branched(request: Request, tokens: list[int], at: int, token: int) -> Request:
    """`request` continued by the first `at` of a generation's `tokens` and then `token` (a branch
    of that generation at step `at`); refused when the rule looks ahead or `at` is past the end."""
    if request.rule.max_lookahead() > 0:
        raise UscdError(f"a branch cannot be continued with {request.rule.name}: it looks ahead")
    if not 0 <= at <= len(tokens):
        raise UscdError(f"cannot branch at step {at} of a generation of {len(tokens)} tokens")
    return replace(request, continuation=(*tokens[:at], token))


def as_request(item: Request | tuple) -> Request:
    return item if isinstance(item, Request) else Request(*item)


@dataclass(frozen=True)
class Prepared:
    """A request with its token ids: the prompt and each auxiliary prompt the rule reads."""

    request: Request
    prompt_tokens: list[int]
    aux_tokens: dict[str, list[int]]

    @property
    def continuation(self) -> list[int]:
        return list(self.request.continuation)


def prepare(backend, request: Request) -> Prepared:
    """Tokenise and check a request; raises UscdError with a one-line reason."""
    rule = request.rule
    _check_not_blank(request.prompt, "prompt")
    for name in rule.aux:
        if request.aux_prompt(name) is None:
            raise UscdError(f"rule {rule.name} needs a {name} prompt")
    prompt_tokens = _tokens(backend, request.prompt)
    check_prompt(backend, prompt_tokens, "prompt")
    aux_tokens = {}
    for name in rule.aux:
        text = request.aux_prompt(name)
        assert text is not None
        _check_not_blank(text, f"{name} prompt")
        aux_tokens[name] = _tokens(backend, text)
        check_prompt(backend, aux_tokens[name], f"{name} prompt")
    check_continuation(backend, request.continuation, [prompt_tokens, *aux_tokens.values()])
    return Prepared(request, prompt_tokens, aux_tokens)


def check_continuation(backend, continuation: tuple[int, ...], prompts: list[list[int]]) -> None:
    """Continuation tokens are ids of the vocabulary, and fit in the context after every prompt."""
    if not continuation:
        return
    bad = [
        t
        for t in continuation
        if not (isinstance(t, Integral) and not isinstance(t, bool) and 0 <= t < backend.vocab_size)
    ]
    if bad:
        raise UscdError(
            f"the continuation holds {bad[0]!r}, not a token id of this model (0..{backend.vocab_size - 1})"
        )
    longest = max(len(tokens) for tokens in prompts) + len(continuation)
    if longest >= backend.n_ctx:
        raise PromptTooLong(
            f"the prompt and its continuation are {longest} tokens, longer than the context of "
            f"{backend.n_ctx} tokens (raise --n-ctx or shorten the prompt)"
        )


def _check_not_blank(prompt: Prompt, what: str) -> None:
    if not (prompt.strip() if isinstance(prompt, str) else prompt):
        raise UscdError(f"the {what} is empty")


def _tokens(backend, prompt: Prompt) -> list[int]:
    return backend.tokenize(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]


class PromptTooLong(UscdError):
    """A prompt holds as many tokens as the context, or more."""


def check_prompt(backend, tokens: list[int], what: str) -> None:
    if not tokens:
        raise UscdError(f"the {what} is empty")
    if len(tokens) >= backend.n_ctx:
        raise PromptTooLong(
            f"the {what} is {len(tokens)} tokens, longer than the context of {backend.n_ctx} tokens "
            "(raise --n-ctx or shorten the prompt)"
        )
