"""USCD (arXiv 2409.05923): contrast against the lame prompt only when the standard step is uncertain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uscd.methods.cd import Contrast
from uscd.methods.gate import PAPER_STD_NORM_THRESHOLD, Gate, Gated
from uscd.methods.view import StdView, Step, dense_scores


@dataclass(frozen=True)
class Uscd(Gated, Contrast):
    """The paper's rule: contrast only when the standard distribution is uncertain."""

    measure: str = "std-norm"
    threshold: float = PAPER_STD_NORM_THRESHOLD
    name = "uscd"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_gate", Gate(self.measure, self.threshold))

    def needs_aux(self, std: StdView) -> bool:
        return self.gate.is_uncertain(std.uncertainty(self.measure)) and super().needs_aux(std)

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        value = std.uncertainty(self.measure)
        if not self.gate.is_uncertain(value):
            return Step(dense_scores(std), False, False, value)
        return self.contrast(std, aux_logits, value)
