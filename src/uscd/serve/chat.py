"""Chat rendering for the server: the model's own template (``uscd.prompts.chat.render``, as
Hugging Face's ``apply_chat_template`` renders it) with the generation prompt opened; a model
without a template gets ChatML. A rendered chat is tokenised with its special tokens parsed
(``<|im_start|>`` becomes one token), unlike a completion prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from uscd.engine import Prepared, Request, prepare
from uscd.prompts.chat import ChatMarkup, compile_template, render

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass
class ChatTemplate:
    """A chat template and the special-token texts it may refer to."""

    source: str
    special_tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        compile_template(self.source)  # a template that does not parse fails here, at start-up

    @classmethod
    def from_backend(cls, backend) -> ChatTemplate:
        """The model's own template (read once, before the engine thread starts), else ChatML."""
        return cls(backend.chat_template() or CHATML, backend.special_token_texts())

    def render(self, messages: list[dict[str, str]]) -> str:
        """The conversation with the assistant's turn opened (add_generation_prompt=True)."""
        return render(self.source, messages, add_generation_prompt=True, special_tokens=self.special_tokens)


def prepare_chat(backend, request: Request) -> Prepared:
    """``prepare`` for a rendered chat (runs in the engine thread, as every tokenisation does)."""
    return prepare(ChatMarkup(backend), request)
