"""Chat rendering for the server, behind one seam (``ChatTemplate.render``) that will point at
``uscd.prompts.chat`` once that lands: the model's ``tokenizer.chat_template`` from the GGUF
metadata, rendered with jinja2 the way Hugging Face's ``apply_chat_template`` does (a sandboxed
environment, ``trim_blocks``/``lstrip_blocks``, ``raise_exception``), with the generation prompt
opened. A model without a template gets ChatML. A rendered chat is tokenised with its special
tokens parsed (``<|im_start|>`` becomes one token), unlike a completion prompt.
"""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from uscd.engine import Prepared, Request, prepare
from uscd.errors import UscdError

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TEMPLATE_KEY = b"tokenizer.chat_template"


def _environment():
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = lambda x, indent=None, **kw: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


@dataclass
class ChatTemplate:
    """A compiled chat template and the special-token texts it may refer to."""

    source: str
    bos_token: str = ""
    eos_token: str = ""

    def __post_init__(self) -> None:
        import jinja2

        try:
            self._template = _environment().from_string(self.source)
        except jinja2.TemplateError as exc:
            raise UscdError(f"the model's chat template does not parse: {exc}") from None

    @classmethod
    def from_backend(cls, backend) -> ChatTemplate:
        """The model's own template (read once, before the engine thread starts), else ChatML."""
        source = read_template(backend)
        return cls(source or CHATML, *_special_texts(backend))

    def render(self, messages: list[dict[str, str]]) -> str:
        """The conversation with the assistant's turn opened (add_generation_prompt=True)."""
        import jinja2

        try:
            return self._template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except jinja2.TemplateError as exc:
            raise UscdError(f"the chat template failed to render these messages: {exc}") from None


def read_template(backend) -> str | None:
    """``tokenizer.chat_template`` from a llama.cpp model's metadata (None for other backends)."""
    model = getattr(backend, "model", None)
    if model is None:
        return None
    import llama_cpp

    size = llama_cpp.llama_model_meta_val_str(model, TEMPLATE_KEY, None, 0)
    if size < 0:
        return None
    buf = ctypes.create_string_buffer(size + 1)
    llama_cpp.llama_model_meta_val_str(model, TEMPLATE_KEY, buf, size + 1)
    return buf.value.decode("utf-8", "replace") or None


def _special_texts(backend) -> tuple[str, str]:
    vocab = getattr(backend, "vocab", None)
    if vocab is None:
        return "", ""
    import llama_cpp

    def text(token: int) -> str:
        if token < 0:
            return ""
        buf = ctypes.create_string_buffer(128)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, 128, 0, True)
        return buf.raw[: max(n, 0)].decode("utf-8", "replace")

    return text(llama_cpp.llama_vocab_bos(vocab)), text(llama_cpp.llama_vocab_eos(vocab))


class SpecialTokens:
    """A backend whose ``tokenize`` parses special-token text: how the engine sees a chat prompt."""

    def __init__(self, backend) -> None:
        self._backend = backend

    def tokenize(self, text: str) -> list[int]:
        own = getattr(self._backend, "tokenize_special", None)
        return own(text) if own is not None else _llama_tokenize_special(self._backend, text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def _llama_tokenize_special(backend, text: str) -> list[int]:
    import llama_cpp

    data = text.encode("utf-8")
    cap = len(data) + 16
    buf = (llama_cpp.llama_token * cap)()
    n = llama_cpp.llama_tokenize(backend.vocab, data, len(data), buf, cap, backend.add_bos, True)
    if n < 0:  # pragma: no cover - cap is always enough for byte-level BPE
        raise UscdError("tokenization failed")
    return list(buf[:n])


def prepare_chat(backend, request: Request) -> Prepared:
    """``prepare`` for a rendered chat (runs in the engine thread, as every tokenisation does)."""
    return prepare(SpecialTokens(backend), request)
