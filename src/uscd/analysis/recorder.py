"""What the premise study records at every step of the greedy program A (a step hook).

A is decoded by `GreedyReadingLame`: greedy on the standard prompt, but reading the lame prompt's
logits on every step, so the lame context follows A's prefix exactly as USCD's lane does (the
engine's lazy sync). The hook then has both distributions of each step: it records the
uncertainty measures (uscd.methods.view), V_head in order of probability, the token each USCD
setting's contrast would pick there (the rule's own `contrast`, ungated; the gate is recomputed
from the recorded measure), and the step JS divergence between the two distributions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from uscd.analysis.stats import js_from_logits
from uscd.methods import MEASURES, Rule, Sampler, StdView, Step, Uscd
from uscd.search.branch import PointRecorder

HEAD_KEPT = 16  # V_head tokens kept per step in the record (the oracle tries at most m of them)
DIGITS = 6


@dataclass(frozen=True)
class GreedyReadingLame(Rule):
    """Greedy decoding that has the engine bring the lame context up to date on every step."""

    name: ClassVar[str] = "greedy-reading-lame"
    aux: ClassVar[tuple[str, ...]] = ("lame",)

    def needs_aux(self, std: StdView) -> bool:
        return True


def head_by_probability(view: StdView, alpha: float) -> list[int]:
    """V_head (p >= alpha·max p) as token ids, most probable first (ties: lower id first)."""
    head = view.head(alpha)
    return [int(t) for t in head[(-view.logits[head]).argsort(kind="stable")]]


class StepRecorder:
    """A step hook: A's points for `most_uncertain`, and one column per recorded quantity."""

    def __init__(self, measure: str, alpha: float, m: int, contrasts: dict[str, Uscd]) -> None:
        self.points = PointRecorder(measure, alpha, m)
        self.alpha = alpha
        self.contrasts = contrasts
        self.columns: dict[str, list] = {"token": [], **{name: [] for name in MEASURES}, "js": [], "head": []}
        self.picks: dict[str, list[int]] = {name: [] for name in contrasts}

    def __call__(self, index: int, view: StdView, aux, step: Step, token: int) -> None:
        self.points(index, view, aux, step, token)
        columns = self.columns
        columns["token"].append(int(token))
        for name in MEASURES:
            columns[name].append(round(float(view.uncertainty(name)), DIGITS))
        columns["head"].append(head_by_probability(view, self.alpha)[:HEAD_KEPT])
        lame = np.asarray(aux, dtype=np.float32)
        columns["js"].append(round(js_from_logits(view.logits, lame), DIGITS))
        for name, rule in self.contrasts.items():
            self.picks[name].append(contrast_pick(rule, view, lame))

    def steps(self) -> dict:
        return {**self.columns, "pick": self.picks}


def contrast_pick(rule: Uscd, view: StdView, lame_logits: np.ndarray) -> int:
    """The token USCD's contrast picks at this step (as if its gate fired), by greedy selection."""
    return int(Sampler().select(rule.contrast(view, lame_logits).scores))
