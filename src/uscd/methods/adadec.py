"""AdaDec (arXiv 2506.08980): pause on uncertain steps, look ahead, rerank.

When the entropy of the next-token distribution reaches the model's threshold, the top-B
candidates are each rolled out greedily L tokens and the one with the best mean log-probability
over candidate + rollout wins: ``(log p(c) + Σ log p(rollout)) / (len + 1)``. Otherwise the step
is greedy. This is the authors' ``Generator`` with beam size 1 (adadec 0.1.0 on PyPI,
``lookahead_scoring_function`` / ``get_lookahead_score``), which is how they evaluate it; the
engine does the rollouts (``uscd.engine.lookahead``), this rule only chooses. Their λ scales every
candidate's total alike at beam size 1, so it cannot change a choice and is not a knob here.

The threshold is learned per model by logistic regression on teacher-forced reference solutions
(``uscd calibrate --rule adadec``; ``uscd.calibrate_adadec``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uscd.methods.rule import Rule, check, finite
from uscd.methods.view import Rollout, Scores, StdView, Step, dense_scores, logsumexp

# learned for the default model (Qwen2.5-Coder-0.5B-Instruct) with `uscd calibrate --rule adadec` on
# MBPP train + validation: results/qwen2.5-coder-0.5b/calibration-adadec-mbpp-train-validation.
# The authors' nearest model, qwen3-0.6b, has 1.321288 (data/learned_thresholds.json); other models
# should be calibrated (`uscd eval --calibration FILE`).
DEFAULT_THRESHOLD = 1.217279


def top_candidates(logits: np.ndarray, k: int) -> np.ndarray:
    """The k highest-scoring token ids, best first (ties: lower id first)."""
    k = min(k, logits.size)
    part = np.argpartition(-logits, k - 1)[:k]
    return part[np.lexsort((part, -logits[part]))]


def adadec_scores(
    candidate_logp: np.ndarray, rollout_logp_sums: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Each candidate's mean log-probability over itself and its rollout."""
    return (candidate_logp + rollout_logp_sums) / (lengths + 1)


@dataclass(frozen=True)
class AdaDec(Rule):
    """`adadec`: greedy, except that uncertain steps rerank the top candidates by lookahead."""

    threshold: float = DEFAULT_THRESHOLD
    beams: int = 3
    length: int = 5
    name = "adadec"

    def __post_init__(self) -> None:
        check(
            finite(self.threshold) and self.threshold >= 0,
            f"threshold must be an entropy >= 0, got {self.threshold}",
        )
        check(isinstance(self.beams, int) and self.beams >= 1, f"beams must be >= 1, got {self.beams}")
        check(isinstance(self.length, int) and self.length >= 1, f"length must be >= 1, got {self.length}")

    def fires(self, std: StdView) -> bool:
        # theirs: `entropy < threshold` takes the plain step, so equality looks ahead
        return std.uncertainty("entropy") >= self.threshold

    def max_lookahead(self) -> int:
        return self.length

    def lookahead(self, std: StdView) -> np.ndarray | None:
        if self.beams < 2 or not self.fires(std):  # one candidate: the rollout cannot change it
            return None
        return top_candidates(std.logits, self.beams)

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        value = std.uncertainty("entropy")
        return Step(dense_scores(std), False, value >= self.threshold, value)

    def rerank(self, std: StdView, rollouts: tuple[Rollout, ...]) -> Step:
        ids = np.array([r.token for r in rollouts])
        lse = np.float32(logsumexp(std.logits))
        candidate_logp = (std.logits[ids] - lse).astype(np.float64)
        sums = np.array([float(np.sum(r.logps, dtype=np.float64)) for r in rollouts])
        lengths = np.array([r.logps.size for r in rollouts], dtype=np.float64)
        totals = adadec_scores(candidate_logp, sums, lengths)
        best = int(ids[int(np.argmax(totals))])  # ties: the better candidate, as torch.topk's order
        value = std.uncertainty("entropy")
        return Step(Scores(ids, totals.astype(np.float32), best), True, True, value, int(ids.size))
