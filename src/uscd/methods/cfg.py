"""Classifier-free guidance with the lame prompt as the negative prompt (no V_head mask)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uscd.methods.rule import Rule, check, finite
from uscd.methods.view import LOGP_FLOOR, Scores, StdView, Step, dense_scores, log_softmax, usable_lame


def cfg_scores(std: StdView, lame_logits: np.ndarray, gamma: float) -> np.ndarray:
    """Classifier-free guidance, lame prompt as the negative prompt, on the whole vocabulary.

    log p_lame + gamma * (log p_std - log p_lame) == log p_std + (gamma - 1) * (log p_std - log p_lame);
    the second form keeps gamma = 1 exactly equal to the standard scores.
    """
    lame = lame_logits
    g = np.float32(gamma - 1.0)
    if np.isfinite(std.logits).all() and np.isfinite(lame).all():
        # log p = logits - lse: the two lse terms shift every score equally, so they drop out
        return std.logits + g * (std.logits - lame)
    std_logp = np.maximum(std.logp, LOGP_FLOOR)
    lame_logp = np.maximum(log_softmax(lame), LOGP_FLOOR)
    guided = std.logits + g * (std_logp - lame_logp)
    return np.where(np.isneginf(std.logits), -np.inf, guided).astype(np.float32)


@dataclass(frozen=True)
class Cfg(Rule):
    """Classifier-free guidance with the lame prompt as negative prompt; no mask."""

    gamma: float = 1.5
    name = "cfg"
    aux = ("lame",)

    def __post_init__(self) -> None:
        check(finite(self.gamma) and self.gamma >= 0, f"gamma must be a finite number >= 0, got {self.gamma}")

    def needs_aux(self, std: StdView) -> bool:
        return True

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        lame = usable_lame(aux_logits)
        if lame is None:
            return Step(dense_scores(std), False, True, fallback=True)
        return Step(Scores(None, cfg_scores(std, lame, self.gamma)), self.gamma != 1.0, True)
