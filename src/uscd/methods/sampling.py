"""Selection: candidate scores in, one token out (argmax, or sampling with temperature/top-k/top-p)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from uscd.methods.rule import check, finite
from uscd.methods.view import Scores


@dataclass(frozen=True)
class Sampler:
    """Turns candidate scores into a token: argmax when temperature == 0, else sampling."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check(
            finite(self.temperature) and self.temperature >= 0,
            f"temperature must be >= 0, got {self.temperature}",
        )
        check(finite(self.top_p) and 0 < self.top_p <= 1, f"top-p must be in (0, 1], got {self.top_p}")
        check(
            isinstance(self.top_k, int) and self.top_k >= 0,
            f"top-k must be an integer >= 0, got {self.top_k}",
        )
        object.__setattr__(self, "_rng", np.random.default_rng(self.seed))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def select(self, scores: Scores) -> int:
        if self.greedy:
            return scores.argmax()
        ids, probs = nucleus(scores, self.temperature, self.top_p, self.top_k)
        return int(ids[self._rng.choice(ids.size, p=probs)])


def nucleus(scores: Scores, temperature: float, top_p: float, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and their renormalised probabilities after temperature, top-k and top-p.

    Only the head of the distribution is sorted: a partial partition of the top tokens is tried
    first, and the full sort happens only when top-p needs more than that.
    """
    ids = scores.token_ids()
    logits = scores.values.astype(np.float64) / temperature
    ok = np.isfinite(logits)
    if not ok.all():
        ids, logits = ids[ok], logits[ok]
    if top_k and top_k < logits.size:
        keep = np.argpartition(-logits, top_k - 1)[:top_k]
        ids, logits = ids[keep], logits[keep]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    if top_p < 1.0:
        order = _descending(probs, top_p)
        cum = np.cumsum(probs[order])
        n = int(np.searchsorted(cum, top_p, side="left")) + 1  # smallest prefix with mass >= top_p
        order = order[: min(n, order.size)]
        ids, probs = ids[order], probs[order]
        probs = probs / probs.sum()
    return ids, probs


def _descending(probs: np.ndarray, mass: float, first: int = 1024) -> np.ndarray:
    """Indices of probs in descending order, enough of them to cover `mass`."""
    if probs.size > first:
        part = np.argpartition(-probs, first - 1)[:first]
        part = part[np.argsort(-probs[part], kind="stable")]
        if probs[part].sum() >= mass:
            return part
    return np.argsort(-probs, kind="stable")
