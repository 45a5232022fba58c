"""What a program search judges: the text its checks are read from, and the program a completion
stands for. A completion prompt gives both itself (checks from the prompt, program = prompt +
completion); a chat gives the task text inside its user message and the code taken from the reply
(uscd.prompts.extract), so the search runs the same checks on the same programs the tests will run;
a served chat gives its last user message and the reply's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Subject:
    examples_from: str  # the task text whose examples become checks (uscd.prompts.examples)
    solution: Callable[[str], str]  # completion -> the program the checks (and the tests) run
    language: str = "python"  # the examples' and the program's language (MultiPL-E: its key)


def completion_subject(prompt: str, language: str = "python") -> Subject:
    """A completion prompt's own subject: checks from the prompt, program = prompt + completion."""
    return Subject(prompt, lambda completion: prompt + completion, language)


def subject_of(request) -> Subject:
    """The request's subject, or the completion prompt's own (prompt + completion)."""
    if request.subject is not None:
        return request.subject
    return completion_subject(request.prompt)


def chat_subject(task_text: str) -> Subject:
    """A served chat's subject: the last user message is the task text (a pasted function with its
    examples), and the program is the code of the reply, picked by that function's name."""
    from uscd.prompts.examples import last_function
    from uscd.prompts.extract import extract_code

    entry = last_function(task_text)
    return Subject(task_text, lambda reply: extract_code(reply, entry))


def problem_subject(problem) -> Subject:
    """A benchmark problem's subject: its task text (before any chat wrapping), its solution and
    its language."""
    return Subject(problem.meta.get("task_prompt", problem.prompt), problem.solution, problem.language)
