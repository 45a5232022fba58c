"""Builders of the auxiliary prompts decoding rules declare (``Rule.aux``), by name.

A task's problem already carries its lame prompt (derived by ``uscd.prompts.lame``, or the
authors' file); a new kind of auxiliary prompt (e.g. SPA's masked description) is one builder here.
"""

from __future__ import annotations

from collections.abc import Callable

from uscd.errors import UscdError
from uscd.methods import Rule
from uscd.tasks.base import Problem

BUILDERS: dict[str, Callable[[Problem], str | None]] = {
    "lame": lambda problem: problem.lame_prompt,
}


def aux_prompts(rule: Rule, problem: Problem) -> dict[str, str]:
    """The auxiliary prompts `rule` reads, built for `problem` (empty for standard-only rules). One
    the problem cannot give is left out: the engine then fails that request alone, with the reason."""
    out = {}
    for name in rule.aux:
        if name not in BUILDERS:
            raise UscdError(f"rule {rule.name} reads a {name!r} prompt, which no builder makes")
        text = BUILDERS[name](problem)
        if text is not None:
            out[name] = text
    return out
