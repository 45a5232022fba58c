"""One step's standard logits with what rules derive from them, and what a rule returns.

Rules work on raw standard logits wherever the paper writes ``log p_std``: the two differ by a
per-step constant, which changes neither the argmax nor the softmax, and raw logits keep exact
ties exact (so ``cd`` with rho = 0 picks *exactly* the greedy token, not one that rounding chose).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from uscd.errors import UscdError
from uscd.methods.gate import top2, uncertainty

# log-probabilities are floored here before they are scaled: a lame prompt that gives a token
# probability 0 (-inf) would otherwise make its contrast score +inf, or NaN when rho = 0.
# float32 probabilities underflow near log(1e-45) = -103, so real values are never floored.
LOGP_FLOOR = -1000.0


def sanitize(logits: np.ndarray) -> np.ndarray:
    """Return float32 logits with NaN turned into -inf; refuse an all -inf row."""
    x = np.asarray(logits, dtype=np.float32)
    # a finite maximum rules out NaN (max propagates it) and +inf; -inf entries are kept as they are
    if not math.isfinite(float(x.max())):
        x = np.where(np.isnan(x), -np.inf, x).astype(np.float32)
        if np.isneginf(x).all() or np.isposinf(x).any():
            raise UscdError("the model returned logits with no finite value (NaN/inf everywhere)")
    return x


def usable_lame(logits: np.ndarray | None) -> np.ndarray | None:
    """Sanitized lame logits, or None when they hold no finite value (the rule then falls back)."""
    if logits is None:
        return None
    x = np.asarray(logits, dtype=np.float32)
    if math.isfinite(float(x.max())):  # no NaN, no +inf (one pass, no temporary array)
        return x
    x = np.where(np.isnan(x) | np.isposinf(x), -np.inf, x).astype(np.float32)
    return x if np.isfinite(x).any() else None


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax (float32 in, float32 out; -inf stays -inf)."""
    return logits - np.float32(logsumexp(logits))


def logsumexp(logits: np.ndarray) -> float:
    m = float(logits.max())
    return m + math.log(float(np.exp(logits - np.float32(m)).sum(dtype=np.float64)))


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / np.float32(e.sum(dtype=np.float64))


@dataclass(frozen=True)
class Scores:
    """Candidate scores of one step. Tokens outside ``ids`` score -inf and can never be chosen.

    ``ids`` is None when every token of the vocabulary is a candidate (``values`` is then dense).
    """

    ids: np.ndarray | None
    values: np.ndarray
    best: int | None = field(default=None, compare=False)  # argmax, when the producer already knows it

    def token_ids(self) -> np.ndarray:
        return np.arange(self.values.size) if self.ids is None else self.ids

    def argmax(self) -> int:
        """Highest-scoring candidate; ties go to the lowest token id, as with np.argmax."""
        if self.best is not None:
            return self.best
        i = int(np.argmax(self.values))
        return i if self.ids is None else int(self.ids[i])

    def dense(self, vocab_size: int) -> np.ndarray:
        if self.ids is None:
            return self.values
        out = np.full(vocab_size, -np.inf, dtype=self.values.dtype)
        out[self.ids] = self.values
        return out


@dataclass(frozen=True)
class Step:
    """What a rule decided at one step, before selection."""

    scores: Scores
    contrast: bool = False  # whether the lame prompt's logits entered the scores at this step
    uncertain: bool = False  # whether the gate judged the step uncertain (always-on rules: True)
    uncertainty: float | None = None
    head_size: int | None = None
    fallback: bool = False  # the contrast left nothing valid; standard scores were used instead


@dataclass(frozen=True)
class Rollout:
    """A candidate token rolled out greedily a few tokens ahead (what a lookahead rule reranks).

    ``logps``: the log-probabilities of the continuation tokens after the candidate (not of the
    candidate itself), up to and including the one that ended it; ``finished``: the rollout met
    EOS or a stop sequence (or the candidate itself did: then there is no continuation).
    """

    token: int
    logps: np.ndarray
    tokens: tuple[int, ...] = ()
    finished: bool = False


class StdView:
    """The standard prompt's logits of one step, with what rules derive from them computed once.

    Everything comes from one pass of exp(logits - max) over the vocabulary: probabilities,
    log-sum-exp and all uncertainty measures, so a confident step costs one exp and a dot product.
    """

    def __init__(self, logits: np.ndarray) -> None:
        x = np.asarray(logits, dtype=np.float32)
        i = int(np.argmax(x))  # argmax stops at the first NaN, so a finite maximum means clean logits
        if math.isfinite(float(x[i])):
            self.logits = x
            self.__dict__["greedy_token"] = i  # the cached_property's slot: one pass for both
        else:
            self.logits = sanitize(x)
        self._uncertainty: dict[str, float] = {}

    @cached_property
    def greedy_token(self) -> int:
        return int(np.argmax(self.logits))

    @cached_property
    def max_logit(self) -> float:
        return float(self.logits[self.greedy_token])

    @cached_property
    def _exp(self) -> np.ndarray:
        e = self.logits - np.float32(self.max_logit)
        return np.exp(e, out=e)

    @cached_property
    def _z(self) -> float:
        return float(self._exp.sum(dtype=np.float64))

    @cached_property
    def probs(self) -> np.ndarray:
        return self._exp / np.float32(self._z)

    @cached_property
    def logp(self) -> np.ndarray:
        return self.logits - np.float32(self.max_logit + math.log(self._z))

    def head(self, alpha: float) -> np.ndarray:
        """V_head = {t : p_std(t) >= alpha * max p_std}, as sorted token ids (never empty)."""
        key = ("head", alpha)
        if key not in self.__dict__:
            self.__dict__[key] = np.flatnonzero(self.logits >= np.float32(self.max_logit + math.log(alpha)))
        return self.__dict__[key]

    def uncertainty(self, measure: str) -> float:
        if measure not in self._uncertainty:
            self._uncertainty[measure] = self._measure(measure)
        return self._uncertainty[measure]

    def _measure(self, measure: str) -> float:
        e, z, v = self._exp, self._z, self.logits.size
        if measure in ("std", "std-norm"):
            sum_sq = float(np.dot(e, e)) / (z * z)
            std = math.sqrt(max((sum_sq - 1.0 / v) / (v - 1), 0.0))
            return std if measure == "std" else min(std * math.sqrt(v), 1.0)
        if measure == "maxprob":
            return 1.0 / z
        if measure == "entropy":
            live = e > 0
            shifted = self.logits[live] - np.float32(self.max_logit)
            return max(math.log(z) - float(np.dot(e[live], shifted)) / z, 0.0)
        if measure == "margin":
            first, second = top2(self.logits)
            return (1.0 - math.exp(second - first)) / z if math.isfinite(second) else 1.0 / z
        return uncertainty(measure, self.probs)  # raises the unknown-measure error


def dense_scores(std: StdView) -> Scores:
    return Scores(None, std.logits, std.greedy_token)
