"""SPA — Selective Prompt Anchoring (arXiv 2408.09121): amplify the anchored text's contribution.

A second context sees the prompt with its task description masked (``uscd.prompts.anchor``); the
scores are ``s + (ω − 1)·(s − s_masked)`` on raw logits. ``weighting="prob"`` is the optional
per-token weighting of the authors' library (``modulated_by_prob``): the weight of token t becomes
``(ω − 1)·p(t)/max p`` and the adjustment is clamped to ±100. The clamps and the two special
cases (ω = 1: the standard logits; ω = 0: the masked ones) are theirs too (anchoring 0.1.0,
``SPALogitsProcessor.__call__``); tests/test_methods_parity.py runs their processor on the same
arrays. ``weighting="none"`` with the ``masked`` prompt is the paper's setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uscd.methods.rule import Rule, check, finite
from uscd.methods.view import Scores, StdView, Step, dense_scores, softmax

WEIGHTINGS = ("none", "prob")
MASKS = {"token": "masked", "drop": "masked-drop"}  # knob value -> auxiliary prompt name
_EPS = 1e-4


def spa_scores(std: np.ndarray, masked: np.ndarray, omega: float, weighting: str = "none") -> np.ndarray:
    """The anchored logits of one step (float32), as the authors' processor computes them."""
    if abs(omega - 1.0) < _EPS:
        return std
    if abs(omega) < _EPS:
        return masked
    s = np.nan_to_num(std, nan=0.0).astype(np.float32)
    m = np.nan_to_num(masked, nan=0.0).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = s - m
        base = np.float32(omega - 1.0)
        if weighting == "prob" and (omega > 1 or omega < -1):
            probs = np.clip(softmax(s), 1e-6, 1.0)
            weights = (base / probs.max()) * probs
            final = s + np.clip(weights * diff, -1e2, 1e2)
        else:
            final = s + np.clip(np.nan_to_num(base * diff, nan=0.0), -1e3, 1e3)
    return np.clip(final, -1e3, 1e3).astype(np.float32)


@dataclass(frozen=True)
class Spa(Rule):
    """`spa`: every step, the logits amplified by the anchored description's contribution."""

    omega: float = 1.5
    weighting: str = "none"
    mask: str = "token"
    name = "spa"

    def __post_init__(self) -> None:
        check(finite(self.omega), f"omega must be a finite number, got {self.omega}")
        check(self.weighting in WEIGHTINGS, f"weighting must be one of {', '.join(WEIGHTINGS)}")
        check(self.mask in MASKS, f"mask must be one of {', '.join(MASKS)}, got {self.mask!r}")

    @property
    def aux(self) -> tuple[str, ...]:  # type: ignore[override]
        return (MASKS[self.mask],)

    def needs_aux(self, std: StdView) -> bool:
        return abs(self.omega - 1.0) >= _EPS

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        if aux_logits is None:  # omega = 1: the standard logits, exactly
            return Step(dense_scores(std), False, True)
        return Step(Scores(None, spa_scores(std.logits, aux_logits, self.omega, self.weighting)), True, True)
