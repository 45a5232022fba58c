"""The OpenAI response objects: completions and chat completions, whole or as stream chunks, with
``usage`` and, per choice, the ``uscd`` extension field saying what the method did."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from uscd.engine import Generation
from uscd.serve.scheduler import TokenInfo

FINISH = {"eos": "stop", "stop": "stop", "length": "length"}


def method_report(gen: Generation, changed: int) -> dict:
    """What the decoding method did on one choice (the ``uscd`` field of a choice)."""
    return {
        "steps": gen.steps,
        "uncertain_steps": gen.uncertain_steps,
        "contrast_steps": gen.contrast_steps,
        "tokens_changed": changed,
        "fallback_steps": gen.fallback_steps,
        "lame_tokens_evaluated": gen.lame_tokens_evaluated,
    }


def _text(piece: bytes) -> str:
    return piece.decode("utf-8", errors="replace")


def completion_logprobs(tokens: list[TokenInfo], offset: int) -> dict:
    """The legacy completions ``logprobs`` object (log-probabilities under the standard prompt)."""
    texts = [_text(t.text) for t in tokens]
    offsets, at = [], offset
    for text in texts:
        offsets.append(at)
        at += len(text)
    return {
        "tokens": texts,
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [{_text(p): lp for p, lp in t.top} for t in tokens]
        if any(t.top for t in tokens)
        else None,
        "text_offset": offsets,
    }


def chat_logprobs(tokens: list[TokenInfo]) -> dict:
    def entry(piece: bytes, logprob: float) -> dict:
        return {"token": _text(piece), "logprob": logprob, "bytes": list(piece)}

    return {
        "content": [
            {**entry(t.text, t.logprob), "top_logprobs": [entry(p, lp) for p, lp in t.top]} for t in tokens
        ]
    }


@dataclass
class Shape:
    """One response's identity and kind: a text completion or a chat completion."""

    chat: bool
    model: str
    method: dict
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def object(self) -> str:
        if self.chat:
            return "chat.completion"
        return "text_completion"

    def envelope(self, chunk: bool = False) -> dict:
        kind = "chat.completion.chunk" if self.chat and chunk else self.object
        prefix = "chatcmpl" if self.chat else "cmpl"
        return {"id": f"{prefix}-{self.id}", "object": kind, "created": self.created, "model": self.model}

    def choice(
        self, index: int, text: str, finish: str | None, logprobs: dict | None, extra: dict | None
    ) -> dict:
        body: dict = {"index": index, "finish_reason": finish, "logprobs": logprobs}
        if self.chat:
            body["message"] = {"role": "assistant", "content": text}
        else:
            body["text"] = text
        if extra is not None:
            body["uscd"] = extra
        return body

    def delta(
        self, index: int, text: str | None, finish: str | None, logprobs: dict | None, extra=None
    ) -> dict:
        body: dict = {"index": index, "finish_reason": finish, "logprobs": logprobs}
        if self.chat:
            body["delta"] = {} if text is None else {"content": text}
        else:
            body["text"] = text or ""
        if extra is not None:
            body["uscd"] = extra
        return body

    def whole(self, choices: list[dict], usage: dict) -> dict:
        return {**self.envelope(), "choices": choices, "usage": usage, "uscd": self.method}

    def chunk(self, choices: list[dict], usage: dict | None = None) -> str:
        body = {**self.envelope(chunk=True), "choices": choices}
        if usage is not None:
            body["usage"] = usage
        return sse(body)


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def sse(body: dict) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


DONE = "data: [DONE]\n\n"
