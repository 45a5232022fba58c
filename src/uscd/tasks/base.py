"""What every task produces: problems with a standard prompt, a lame prompt and test programs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TestSuite:
    """One test program around a whole solution (prompt + completion).

    ``prelude + solution + tail``; with `embed`, the solution goes in as a Python string literal
    that the prelude's harness executes itself (evalplus style: a fresh namespace per solution).
    `budget_s`: the longest the suite's own time limits allow, when the program enforces them
    itself; the sandbox wall clock is then this plus the run's timeout. None: the run's timeout.
    `memory_mb`: the address space a program may use, when the suite's semantics set one.
    """

    __test__ = False  # not a pytest class

    name: str
    prelude: str
    tail: str
    budget_s: float | None = None
    embed: bool = False
    memory_mb: int | None = None

    def program(self, solution: str) -> str:
        return self.prelude + (repr(solution) if self.embed else solution) + self.tail


@dataclass(frozen=True)
class Problem:
    """One benchmark problem, ready for generation and execution.

    A completion is judged as a *solution*: prompt + completion, or, for a problem asked as a chat
    (``reply_prefix`` set, see uscd.prompts.chat), the code extracted from the reply. Unless
    `suites_given` says otherwise, the test program is ``program_head + completion + program_tail``
    (one suite, "base"), where `program_head` ends with `prompt` (a chat problem's head holds only
    what goes before the code). HumanEval+/MBPP+ give two suites ("base", "plus"). A sample passes
    when every suite runs to its end (see uscd.execution).
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
    suites_given: tuple[TestSuite, ...] = field(default=(), repr=False)
    reply_prefix: str | None = None  # chat: the assistant turn the prompt already opened

    @property
    def is_chat(self) -> bool:
        return self.reply_prefix is not None

    def code(self, completion: str) -> str:
        """The code in a chat reply (the reply prefix + the completion)."""
        from uscd.prompts.extract import extract_code

        return extract_code((self.reply_prefix or "") + completion, self.entry_point, self.language)

    def solution(self, completion: str) -> str:
        """What the tests run: prompt + completion, or the code of a chat reply."""
        return self.code(completion) if self.is_chat else self.prompt + completion

    def suites(self) -> tuple[TestSuite, ...]:
        if self.suites_given:
            return self.suites_given
        if self.is_chat:
            return (TestSuite("base", self.program_head, self.program_tail),)
        if not self.program_head.endswith(self.prompt):
            raise ValueError(f"{self.task_id}: the program head does not end with the prompt")
        prelude = self.program_head[: len(self.program_head) - len(self.prompt)]
        return (TestSuite("base", prelude, self.program_tail),)

    def program(self, completion: str, suite: int = 0) -> str:
        return self.suites()[suite].program(self.solution(completion))
