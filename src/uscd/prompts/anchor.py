"""SPA's anchored text: the task description inside a prompt, and the prompt with it masked.

The official SPA experiments (magic-YuanTian/Selective-Prompt-Anchoring, obsolete/obsolete/
weighted_utils/weighted_text_utils.py ``mask_humanEval_instruction``) anchor the description of
the last function's docstring — its lines up to the first ``>>>`` example, stripped — and replace
that text with one mask token (``<unk>`` for Qwen and CodeLlama); for MBPP they replace the task
text. Here the same span is found in any prompt with a docstring:

- the docstring of the last ``def`` (either quote style: their code looks for triple double quotes
  only, and on the 17 HumanEval prompts that use triple single quotes it masks from inside the
  ``def`` line instead); without a ``def``, the first docstring (MBPP's prompt is a docstring
  holding the task text and one assert);
- its lines up to the first example line: ``>>>`` in a function's docstring, as theirs; ``>>>`` or
  ``assert`` (MBPP's test line) in a docstring without a function.
"""

from __future__ import annotations

import re

MASK_TOKEN = "<unk>"  # their mask text for Qwen and CodeLlama checkpoints (anchor_evaluation.py)
_FUNCTION_EXAMPLE = (">>>",)
_MODULE_EXAMPLE = (">>>", "assert ")
_LAST_DEF = re.compile(r"(?:^|\n)def\s")


def anchored_span(prompt: str) -> tuple[int, int] | None:
    """(start, end) of the anchored description in `prompt`, or None when there is none."""
    body = _docstring_body(prompt)
    if body is None:
        return None
    start, end, in_function = body
    examples = _FUNCTION_EXAMPLE if in_function else _MODULE_EXAMPLE
    kept: list[str] = []
    for line in prompt[start:end].split("\n"):
        if line.strip().startswith(examples):
            break
        kept.append(line)
    text = "\n".join(kept).strip()
    if not text:
        return None
    offset = prompt.index(text, start)
    return offset, offset + len(text)


def masked_prompt(prompt: str, replacement: str = MASK_TOKEN) -> str:
    """The prompt with its anchored description replaced (unchanged when it has none)."""
    span = anchored_span(prompt)
    if span is None:
        return prompt
    start, end = span
    return prompt[:start] + replacement + prompt[end:]


def _docstring_body(prompt: str) -> tuple[int, int, bool] | None:
    """Start and end of the relevant docstring's text (between its quotes), and whether it
    belongs to a function."""
    defs = [m.start() for m in _LAST_DEF.finditer(prompt)]
    origin = defs[-1] if defs else 0
    found = [(i, q) for q in ('"""', "'''") if (i := prompt.find(q, origin)) != -1]
    if not found:
        return None
    open_at, quote = min(found)
    start = open_at + 3
    close_at = prompt.find(quote, start)
    return start, len(prompt) if close_at == -1 else close_at, bool(defs)
