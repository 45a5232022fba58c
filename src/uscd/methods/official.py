"""The authors' released USCD code (audit: ../shared/docs/official-code-audit.md), ported as it runs:
raw std(p) gate, mean-relative filter, log(p_std − w·p_lame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uscd.methods.gate import PAPER_STD_THRESHOLD, Gate, Gated
from uscd.methods.rule import Rule, check, finite
from uscd.methods.view import Scores, StdView, Step, dense_scores, logsumexp, usable_lame


def official_scores(
    std: StdView, lame_logits: np.ndarray, weight: float, filter_num: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """The authors' probability-space rule: log(p_std - w * p_lame) on {p_std >= filter * mean p_std}.

    Returns (ids, scores, filter size): the tokens whose difference is positive and their scores;
    the authors' code turns the others into log(<=0) = NaN/-inf.
    """
    p_std = std.probs
    keep = np.flatnonzero(p_std >= filter_num * p_std.mean(dtype=np.float64))
    lame = lame_logits
    p_lame_keep = np.exp(lame[keep].astype(np.float64) - logsumexp(lame))
    q = p_std[keep].astype(np.float64) - weight * p_lame_keep
    valid = q > 0
    return keep[valid], np.log(q[valid]), int(keep.size)


@dataclass(frozen=True)
class UscdOfficial(Gated, Rule):
    """The authors' released code: raw std(p) gate, mean-relative filter, log(p_std - w * p_lame)."""

    threshold: float = PAPER_STD_THRESHOLD
    weight: float = 0.7
    filter_num: float = 0.666667
    name = "uscd-official"
    aux = ("lame",)

    def __post_init__(self) -> None:
        check(
            finite(self.weight) and self.weight >= 0,
            f"weight must be a finite number >= 0, got {self.weight}",
        )
        check(
            finite(self.filter_num) and self.filter_num >= 0,
            f"filter must be a finite number >= 0, got {self.filter_num}",
        )
        object.__setattr__(self, "_gate", Gate("std", self.threshold))

    def needs_aux(self, std: StdView) -> bool:
        return self.gate.is_uncertain(std.uncertainty("std"))

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        value = std.uncertainty("std")
        if not self.gate.is_uncertain(value):
            return Step(dense_scores(std), False, False, value)
        lame = usable_lame(aux_logits)
        if lame is None:
            return Step(dense_scores(std), False, True, value, fallback=True)
        ids, scores, kept = official_scores(std, lame, self.weight, self.filter_num)
        if ids.size == 0:  # the authors' code would sample from an all -inf row here (audit §6.13)
            return Step(dense_scores(std), False, True, value, kept, fallback=True)
        return Step(Scores(ids, scores.astype(np.float32)), True, True, value, kept)
