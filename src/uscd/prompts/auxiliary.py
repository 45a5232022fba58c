"""Builders of the auxiliary prompts decoding rules declare (``Rule.aux``), by name.

A task's problem already carries its lame prompt (derived by ``uscd.prompts.lame``, or the
authors' file); the other kinds are functions of the prompt text alone:

- ``masked``: SPA's prompt with the anchored description replaced by the mask text ``<unk>``, as
  the SPA authors' HumanEval/MBPP experiments build it (``uscd.prompts.anchor``);
- ``masked-drop``: the description removed instead (nothing stands in its place) — the nearest
  equivalent a llama.cpp context has to masking the description's attention (their library's
  ``use_attention_mask``), except that later tokens move to earlier positions.
"""

from __future__ import annotations

from collections.abc import Callable

from uscd.errors import UscdError
from uscd.methods import Rule
from uscd.prompts.anchor import MASK_TOKEN, masked_prompt
from uscd.tasks.base import Problem

# auxiliary prompts that need nothing but the standard prompt's text
FROM_PROMPT: dict[str, Callable[[str], str]] = {
    "masked": lambda prompt: masked_prompt(prompt, MASK_TOKEN),
    "masked-drop": lambda prompt: masked_prompt(prompt, ""),
}

BUILDERS: dict[str, Callable[[Problem], str | None]] = {
    "lame": lambda problem: problem.lame_prompt,
    **{name: (lambda problem, build=build: build(problem.prompt)) for name, build in FROM_PROMPT.items()},
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
