"""Which cached tokens one sequence can give another without evaluating them again."""

from __future__ import annotations

from collections.abc import Sequence


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def shared_for_start(held: Sequence[int], full: Sequence[int]) -> int:
    """How much of `full` (an auxiliary prompt + the generated tokens) a sequence holding `held`
    gives: their common prefix, leaving at least one token to evaluate (for logits)."""
    return min(common_prefix(held, full), len(full) - 1)


def reusable_prefix(held: Sequence[int], prompt: Sequence[int], full: Sequence[int]) -> int:
    """How many of `full`'s (prompt + generated) tokens a sequence holding `held` can give without
    evaluating them again: 0 unless `held` starts with the whole prompt, and at least one token is
    left to evaluate (for logits). Only whole prompts count: reusing a few tokens that different
    prompts happen to share would save little and change the rounding of every greedy comparison."""
    if len(held) < len(prompt) or list(held[: len(prompt)]) != list(prompt):
        return 0
    return min(common_prefix(held, full), len(full) - 1)


def holder(
    held_by_seq: Sequence[Sequence[int]], prompt: list[int], full: list[int]
) -> tuple[int | None, int]:
    """The sequence that starts with all of `prompt` and can give the most of `full` (prompt +
    generated tokens), and how many (see ``reusable_prefix``)."""
    best, best_n = None, 0
    for seq, held in enumerate(held_by_seq):
        n = reusable_prefix(held, prompt, full)
        if n > best_n:
            best, best_n = seq, n
    return best, best_n
