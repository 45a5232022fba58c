"""What every task produces: problems with a standard prompt, a lame prompt and a test program."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One benchmark problem, ready for generation and execution.

    The test program for a completion is ``program_head + completion + program_tail``; the
    sandbox counts it as passed only if it runs to its end (see uscd.execution). A problem asked
    as a chat (``reply_prefix`` set, see uscd.prompts.chat) has no head: its program is the code
    extracted from the reply, then the tail.
    """

    task_id: str
    prompt: str  # the standard prompt, with its input-output examples
    lame_prompt: str | None  # the same prompt without the examples (None: the task defines none)
    stop: tuple[str, ...]  # stop sequences for generation
    entry_point: str
    program_head: str
    program_tail: str
    language: str = "python"
    reference: str | None = None  # canonical solution as a completion of `prompt`, when known
    lame_is_noop: bool = False  # lame == standard: USCD cannot change anything on this problem
    meta: dict = field(default_factory=dict, compare=False)
    reply_prefix: str | None = None  # chat: the assistant turn the prompt already opened

    @property
    def is_chat(self) -> bool:
        return self.reply_prefix is not None

    def code(self, completion: str) -> str:
        """The code the program is built from: the completion, or the code in a chat reply."""
        if self.reply_prefix is None:
            return completion
        from uscd.prompts.extract import extract_code

        return extract_code(self.reply_prefix + completion, self.entry_point, self.language)

    def program(self, completion: str) -> str:
        return self.program_head + self.code(completion) + self.program_tail
