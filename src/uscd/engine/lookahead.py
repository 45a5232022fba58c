"""Rollouts for lookahead rules (AdaDec): each candidate token is continued greedily a few tokens
on a branch of the sequence's KV cache, and the branch is rewound for the next candidate.

A rollout ends after L tokens, or at the token that ends the generation (EOS, or a stop sequence
in the text generated so far plus the rollout) — the same rule the generation itself stops by.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from uscd.engine.generation import CompletionText
from uscd.methods import Rollout, logsumexp


class Branch(Protocol):
    def extend(self, tokens: list[int]) -> np.ndarray: ...
    def rewind(self) -> None: ...
    def drop(self) -> None: ...


def roll_out(
    backend, branch: Branch, candidate: int, text: CompletionText, length: int
) -> tuple[Rollout, int]:
    """One candidate's greedy rollout of at most `length` tokens; (rollout, tokens evaluated).

    `text` is a copy of the completion so far; the branch holds the sequence before `candidate`.
    """
    if backend.is_eog(candidate) or text.add(backend.piece(candidate)):
        return Rollout(candidate, np.empty(0), (), True), 0
    row = branch.extend([candidate])
    evaluated = 1
    logps: list[float] = []
    tokens: list[int] = []
    finished = False
    for t in range(length):
        token = int(np.argmax(row))
        logps.append(float(row[token]) - logsumexp(row))
        tokens.append(token)
        if backend.is_eog(token) or text.add(backend.piece(token)):
            finished = True
            break
        if t + 1 < length:  # the last token's log-probability is all a rollout needs of it
            row = branch.extend([token])
            evaluated += 1
    return Rollout(candidate, np.array(logps), tuple(tokens), finished), evaluated


def roll_out_all(backend, branch: Branch, candidates, text: CompletionText, length: int):
    """Every candidate's rollout from the same branch point; (rollouts, tokens evaluated)."""
    rollouts, evaluated = [], 0
    try:
        for candidate in candidates:
            rollout, n = roll_out(backend, branch, int(candidate), text.copy(), length)
            rollouts.append(rollout)
            evaluated += n
            branch.rewind()
    finally:
        branch.drop()
    return tuple(rollouts), evaluated
