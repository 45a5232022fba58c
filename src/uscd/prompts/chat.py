"""Chat prompts: a benchmark problem asked the way evalplus asks instruct models.

The conversation is rendered with the model's own chat template (the GGUF's
``tokenizer.chat_template``), through jinja2 exactly as Hugging Face's ``apply_chat_template``
renders it: a sandboxed environment with ``trim_blocks``/``lstrip_blocks``, the ``raise_exception``
and ``strftime_now`` globals and a ``tojson`` filter. No system message is passed, so the system
prompt is the one the template itself implies (Qwen2.5: "You are Qwen, created by Alibaba Cloud.
You are a helpful assistant."). llama.cpp's template API was not used: it does not run the GGUF's
jinja text but matches it to a built-in format, which renders no default system prompt.

The user message and the opened reply are evalplus's (``evalplus/codegen.py`` and
``evalplus/provider/utility.py:make_raw_chat_prompt``, evalplus v0.3.1; docs/chat.md quotes them):
the task text inside a bare code fence after an instruction, then an assistant turn that already
holds a one-line preamble and an opened code fence, so the model's reply starts with the code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from uscd.errors import UscdError
from uscd.tasks.base import Problem

PROMPT_STYLES = ("completion", "chat")

# evalplus v0.3.1, evalplus/codegen.py (the "instruct" setting), with "Python" made the task's language
INSTRUCTION = (
    "Please provide a self-contained {language} script that solves the following problem in a markdown "
    "code block:"
)
RESPONSE = (
    "Below is a {language} script with a self-contained function that solves the problem and passes "
    "corresponding tests:"
)
# evalplus's splitter: the assistant turn is rendered with this as its code, then cut there
_SPLITTER = "-[[]]-this-is-really-our-highest-priority-[[]]-"

# the end of turn stops generation already (an end-of-generation token); these end the code:
# the closing fence, and evalplus's extra stops for instruct models (evalplus/provider/utility.py EOS)
PYTHON_CHAT_STOPS = ("\n```", "\nif __name__", "\ndef main(", "\nprint(")
FENCE_STOPS = ("\n```",)

# task language -> (name in the instruction, fence tag)
LANGUAGES: dict[str, tuple[str, str]] = {
    "python": ("Python", "python"),
    "cpp": ("C++", "cpp"),
    "cs": ("C#", "csharp"),
    "d": ("D", "d"),
    "elixir": ("Elixir", "elixir"),
    "go": ("Go", "go"),
    "hs": ("Haskell", "haskell"),
    "java": ("Java", "java"),
    "jl": ("Julia", "julia"),
    "js": ("JavaScript", "javascript"),
    "lua": ("Lua", "lua"),
    "ml": ("OCaml", "ocaml"),
    "php": ("PHP", "php"),
    "pl": ("Perl", "perl"),
    "r": ("R", "r"),
    "rb": ("Ruby", "ruby"),
    "rkt": ("Racket", "racket"),
    "rs": ("Rust", "rust"),
    "scala": ("Scala", "scala"),
    "sh": ("Bash", "bash"),
    "swift": ("Swift", "swift"),
    "ts": ("TypeScript", "typescript"),
}


def check_style(style: str) -> str:
    if style not in PROMPT_STYLES:
        raise UscdError(f"prompt style must be one of {', '.join(PROMPT_STYLES)}, got {style!r}")
    return style


def language_names(language: str) -> tuple[str, str]:
    key = "python" if language == "py" else language
    if key not in LANGUAGES:
        raise UscdError(f"chat prompts know no language {language!r}; known: {', '.join(LANGUAGES)}")
    return LANGUAGES[key]


# ----------------------------------------------------------------------------------------------
# rendering a template as Hugging Face does


@lru_cache(maxsize=8)
def compile_template(template: str):
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template)
    except jinja2.TemplateError as exc:
        raise UscdError(f"the model's chat template does not parse: {exc}") from None


def render(
    template: str,
    messages: Sequence[dict[str, str]],
    *,
    add_generation_prompt: bool = False,
    special_tokens: dict[str, str] | None = None,
) -> str:
    """The conversation as the template writes it (HF ``apply_chat_template(tokenize=False)``)."""
    import jinja2

    try:
        return compile_template(template).render(
            messages=list(messages), add_generation_prompt=add_generation_prompt, **(special_tokens or {})
        )
    except jinja2.TemplateError as exc:
        raise UscdError(f"the model's chat template failed to render: {exc}") from None


# ----------------------------------------------------------------------------------------------
# a problem as a chat


@dataclass(frozen=True)
class ChatFormat:
    """The model's template and the special tokens it may refer to."""

    template: str
    special_tokens: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_backend(cls, backend: Any) -> ChatFormat:
        template = backend.chat_template()
        if not template:
            raise UscdError(
                "this model has no chat template (no tokenizer.chat_template in its metadata): "
                "use --prompt-style completion"
            )
        return cls(template, tuple(sorted(backend.special_token_texts().items())))

    def conversation(self, task_text: str, language: str = "python") -> str:
        """The rendered chat up to and including the opened code fence of the reply."""
        name, fence = language_names(language)
        user = f"{INSTRUCTION.format(language=name)}\n```\n{task_text.strip()}\n```\n"
        reply = f"{RESPONSE.format(language=name)}\n```{fence}\n{_SPLITTER}\n```\n"
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        text = render(self.template, messages, special_tokens=dict(self.special_tokens))
        if _SPLITTER not in text:
            raise UscdError("the model's chat template drops the assistant turn; it cannot open the reply")
        return text.split(_SPLITTER)[0]

    def problem(self, problem: Problem) -> Problem:
        """The problem asked as a chat: prompt and lame prompt are the same conversation, the lame
        one with the examples removed from the task text (the task's own lame prompt, wrapped)."""
        prompt = self.conversation(problem.prompt, problem.language)
        lame = None
        if problem.lame_prompt is not None:
            lame = self.conversation(problem.lame_prompt, problem.language)
        # the task text stays readable: a program search reads its examples there (uscd.search.subject)
        meta = {**problem.meta, "task_prompt": problem.meta.get("task_prompt", problem.prompt)}
        asked = replace(problem, prompt=prompt, lame_prompt=lame, meta=meta)
        return as_chat(asked, reply_prefix(problem.language))

    def describe(self) -> dict:
        """What the run config records: the template by hash, the fixed texts verbatim."""
        import hashlib

        return {
            "style": "chat",
            "template_sha256": hashlib.sha256(self.template.encode()).hexdigest(),
            "instruction": INSTRUCTION,
            "response": RESPONSE,
            "source": "evalplus v0.3.1 codegen (instruct)",
        }


def reply_prefix(language: str) -> str:
    """What the prompt already put in the assistant turn: evalplus's preamble and an opened fence."""
    name, fence = language_names(language)
    return f"{RESPONSE.format(language=name)}\n```{fence}\n"


def chat_stops(language: str) -> tuple[str, ...]:
    return PYTHON_CHAT_STOPS if language_names(language)[1] == "python" else FENCE_STOPS


def as_chat(problem: Problem, prefix: str) -> Problem:
    """The problem with its program built from the code extracted from a reply (not prompt + reply).

    Used on a rendered problem, and by `uscd evaluate` on a saved chat run (no model, no template
    needed: a program depends only on the reply prefix, the entry point and the tests).
    """
    return replace(problem, stop=chat_stops(problem.language), program_head="", reply_prefix=prefix)


class ChatMarkup:
    """A backend whose ``tokenize`` parses special-token text: the engine's view in chat mode.

    The engine tokenises every prompt with ``backend.tokenize``, which keeps ``<|im_start|>`` as
    plain text (right for completion prompts). A rendered chat must become the template's special
    tokens, as Hugging Face's tokenizer and llama.cpp's own chat tokenisation make them; every other
    attribute is the wrapped backend's.
    """

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def tokenize(self, text: str) -> list[int]:
        return self._backend.tokenize_special(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)
