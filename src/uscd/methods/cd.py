"""Contrastive decoding against the lame prompt: log p_std − ρ·log p_lame on V_head, every step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uscd.methods.rule import Rule, check, finite
from uscd.methods.view import LOGP_FLOOR, Scores, StdView, Step, logsumexp, usable_lame


def contrast_scores(std: StdView, lame_logits: np.ndarray, rho: float, head: np.ndarray) -> np.ndarray:
    """log p_std - rho * log p_lame on the head tokens (up to a per-step constant)."""
    lame = lame_logits
    lame_logp_head = np.maximum(lame[head] - np.float32(logsumexp(lame)), LOGP_FLOOR)
    return std.logits[head] - np.float32(rho) * lame_logp_head


@dataclass(frozen=True)
class Contrast(Rule):
    """`cd`: always contrast, log p_std - rho * log p_lame on V_head."""

    rho: float = 0.7
    alpha: float = 0.1
    name = "cd"
    aux = ("lame",)

    def __post_init__(self) -> None:
        check(finite(self.rho) and self.rho >= 0, f"rho must be a finite number >= 0, got {self.rho}")
        check(finite(self.alpha) and 0 < self.alpha <= 1, f"alpha must be in (0, 1], got {self.alpha}")

    def needs_aux(self, std: StdView) -> bool:
        # with a single plausible token the contrast cannot change the choice: skip p_lame
        return std.head(self.alpha).size > 1

    def contrast(self, std: StdView, lame_logits: np.ndarray | None, value: float | None = None) -> Step:
        head = std.head(self.alpha)
        if head.size == 1:  # only one plausible token: the contrast cannot change the choice
            return Step(Scores(head, std.logits[head]), False, True, value, 1)
        # falling back, the standard scores stay restricted to V_head: the chosen token is a
        # plausible one whatever the lame row holds (greedy picks the same token either way)
        lame = usable_lame(lame_logits)
        if lame is None:
            return Step(Scores(head, std.logits[head]), False, True, value, int(head.size), fallback=True)
        scores = contrast_scores(std, lame, self.rho, head)
        ok = np.isfinite(scores)
        if not ok.any():
            return Step(Scores(head, std.logits[head]), False, True, value, int(head.size), fallback=True)
        return Step(Scores(head[ok], scores[ok]), True, True, value, int(head.size))

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        return self.contrast(std, aux_logits)
