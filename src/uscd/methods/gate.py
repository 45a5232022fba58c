"""Uncertainty measures of a next-token distribution, and the gate that turns one into a decision."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from uscd.errors import UscdError

MEASURES = ("std", "std-norm", "maxprob", "entropy", "margin")
# measures where a high value means a peaked, confident distribution (uncertain when value <= threshold)
_CONFIDENT_WHEN_HIGH = {"std", "std-norm", "maxprob", "margin"}

# The shipped official script gates at std(p) <= 0.005 with CodeLlama (vocabulary 32,016); on the
# normalised scale std(p) * sqrt(V) that is 0.005 * sqrt(32016) = 0.8947 for any vocabulary.
PAPER_STD_THRESHOLD = 0.005
PAPER_VOCAB = 32016
PAPER_STD_NORM_THRESHOLD = round(PAPER_STD_THRESHOLD * math.sqrt(PAPER_VOCAB), 4)

DEFAULT_THRESHOLDS = {
    "std": PAPER_STD_THRESHOLD,
    "std-norm": PAPER_STD_NORM_THRESHOLD,
    "maxprob": 0.9,
    "entropy": 0.5,
    "margin": 0.8,
}


def top2(p: np.ndarray) -> tuple[float, float]:
    """The two largest values of p, without sorting the whole vector."""
    if p.size == 1:
        return float(p[0]), -math.inf
    i = int(np.argmax(p))
    first = float(p[i])
    rest_max = max(
        float(p[:i].max()) if i else -math.inf, float(p[i + 1 :].max()) if i + 1 < p.size else -math.inf
    )
    return first, rest_max


def uncertainty(measure: str, p: np.ndarray) -> float:
    """One scalar uncertainty statistic of a probability vector p over the whole vocabulary.

    std       unbiased std of p (the paper's and the official code's); its maximum, for a one-hot p,
              is sqrt(1/V), so any fixed threshold means something different per vocabulary size
    std-norm  std(p) * sqrt(V), in [0, 1] for every vocabulary (close to the L2 norm of p)
    maxprob   max p
    entropy   -sum p log p, in nats
    margin    top-1 minus top-2 probability
    """
    v = p.size
    if measure in ("std", "std-norm"):
        sum_sq = float(np.dot(p, p))
        total = float(p.sum(dtype=np.float64))
        var = max((sum_sq - total * total / v) / (v - 1), 0.0)
        std = math.sqrt(var)
        return std if measure == "std" else min(std * math.sqrt(v), 1.0)
    if measure == "maxprob":
        return float(p.max())
    if measure == "entropy":
        nz = p[p > 0]
        return float(-(nz * np.log(nz)).sum(dtype=np.float64))
    if measure == "margin":
        a, b = top2(p)
        return a - max(b, 0.0)
    raise UscdError(f"unknown uncertainty measure {measure!r}; choose one of {', '.join(MEASURES)}")


def measure_range(measure: str, vocab_size: int) -> tuple[float, float]:
    """The closed range of values the measure can take for a vocabulary of this size."""
    return {
        "std": (0.0, math.sqrt(1.0 / vocab_size)),
        "std-norm": (0.0, 1.0),
        "maxprob": (1.0 / vocab_size, 1.0),
        "entropy": (0.0, math.log(vocab_size)),
        "margin": (0.0, 1.0),
    }[measure]


@dataclass(frozen=True)
class Gate:
    """Decides whether a step is uncertain enough to contrast."""

    measure: str = "std-norm"
    threshold: float = PAPER_STD_NORM_THRESHOLD

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise UscdError(
                f"unknown uncertainty measure {self.measure!r}; choose one of {', '.join(MEASURES)}"
            )
        if not math.isfinite(self.threshold):
            raise UscdError(f"the gate threshold must be a finite number, got {self.threshold}")

    def is_uncertain(self, value: float) -> bool:
        if self.measure in _CONFIDENT_WHEN_HIGH:
            return value <= self.threshold
        return value > self.threshold

    def liveness(self, vocab_size: int) -> str | None:
        """'always' or 'never' when no distribution over this vocabulary can make the gate differ."""
        lo, hi = measure_range(self.measure, vocab_size)
        if self.measure in _CONFIDENT_WHEN_HIGH:
            if self.threshold >= hi:
                return "always"
            if self.threshold < lo:
                return "never"
        else:
            if self.threshold >= hi:
                return "never"
            if self.threshold < lo:
                return "always"
        return None

    def warning(self, vocab_size: int) -> str | None:
        state = self.liveness(vocab_size)
        if state is None:
            return None
        lo, hi = measure_range(self.measure, vocab_size)
        consequence = (
            "contrast on every step (always-on CD)" if state == "always" else "plain greedy/sampling"
        )
        return (
            f"gate {self.measure} threshold {self.threshold:g} can {state} fire for a vocabulary of "
            f"{vocab_size:,} ({self.measure} lies in [{lo:.6g}, {hi:.6g}]): this is {consequence}"
        )


class Gated:
    """Mixin of the rules that contrast only on uncertain steps: their `_gate`, set at construction."""

    @property
    def gate(self) -> Gate:
        return self._gate  # type: ignore[attr-defined]

    def gate_warning(self, vocab_size: int) -> str | None:
        return self.gate.warning(vocab_size)
