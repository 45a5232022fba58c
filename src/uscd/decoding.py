"""Decoding rules: pure functions of next-token logits (numpy only; no model, no I/O).

Every rule sees the *standard* prompt's logits and, when it asks for them, the *lame* prompt's
logits for the same generated prefix, both over the full vocabulary.  It returns candidate scores
(tokens that are not candidates score -inf); a selector then takes the argmax or samples.

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

# log-probabilities are floored here before they are scaled: a lame prompt that gives a token
# probability 0 (-inf) would otherwise make its contrast score +inf, or NaN when rho = 0.
# float32 probabilities underflow near log(1e-45) = -103, so real values are never floored.
LOGP_FLOOR = -1000.0

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


# ----------------------------------------------------------------------------------------------
# distributions and uncertainty


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


# ----------------------------------------------------------------------------------------------
# rule outputs


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


def contrast_scores(std: StdView, lame_logits: np.ndarray, rho: float, head: np.ndarray) -> np.ndarray:
    """log p_std - rho * log p_lame on the head tokens (up to a per-step constant)."""
    lame = lame_logits
    lame_logp_head = np.maximum(lame[head] - np.float32(logsumexp(lame)), LOGP_FLOOR)
    return std.logits[head] - np.float32(rho) * lame_logp_head


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


# ----------------------------------------------------------------------------------------------
# rules


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise UscdError(message)


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class Rule:
    """Base of all rules: decide whether p_lame is needed, then score."""

    name = "rule"

    def needs_lame(self, std: StdView) -> bool:
        return False

    def score(self, std: StdView, lame_logits: np.ndarray | None) -> Step:
        return Step(dense_scores(std))

    def gate_warning(self, vocab_size: int) -> str | None:
        return None

    @property
    def uses_lame(self) -> bool:
        return False

    def knobs(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass(frozen=True)
class Greedy(Rule):
    """Standard prompt only."""

    name = "greedy"


@dataclass(frozen=True)
class Contrast(Rule):
    """`cd`: always contrast, log p_std - rho * log p_lame on V_head."""

    rho: float = 0.7
    alpha: float = 0.1
    name = "cd"

    def __post_init__(self) -> None:
        _check(_finite(self.rho) and self.rho >= 0, f"rho must be a finite number >= 0, got {self.rho}")
        _check(_finite(self.alpha) and 0 < self.alpha <= 1, f"alpha must be in (0, 1], got {self.alpha}")

    @property
    def uses_lame(self) -> bool:
        return True

    def needs_lame(self, std: StdView) -> bool:
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
        finite = np.isfinite(scores)
        if not finite.any():
            return Step(Scores(head, std.logits[head]), False, True, value, int(head.size), fallback=True)
        return Step(Scores(head[finite], scores[finite]), True, True, value, int(head.size))

    def score(self, std: StdView, lame_logits: np.ndarray | None) -> Step:
        return self.contrast(std, lame_logits)


@dataclass(frozen=True)
class Uscd(Contrast):
    """The paper's rule: contrast only when the standard distribution is uncertain."""

    measure: str = "std-norm"
    threshold: float = PAPER_STD_NORM_THRESHOLD
    name = "uscd"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_gate", Gate(self.measure, self.threshold))

    @property
    def gate(self) -> Gate:
        return self._gate  # type: ignore[attr-defined]

    def gate_warning(self, vocab_size: int) -> str | None:
        return self.gate.warning(vocab_size)

    def needs_lame(self, std: StdView) -> bool:
        return self.gate.is_uncertain(std.uncertainty(self.measure)) and super().needs_lame(std)

    def score(self, std: StdView, lame_logits: np.ndarray | None) -> Step:
        value = std.uncertainty(self.measure)
        if not self.gate.is_uncertain(value):
            return Step(dense_scores(std), False, False, value)
        return self.contrast(std, lame_logits, value)


@dataclass(frozen=True)
class Cfg(Rule):
    """Classifier-free guidance with the lame prompt as negative prompt; no mask."""

    gamma: float = 1.5
    name = "cfg"

    def __post_init__(self) -> None:
        _check(
            _finite(self.gamma) and self.gamma >= 0, f"gamma must be a finite number >= 0, got {self.gamma}"
        )

    @property
    def uses_lame(self) -> bool:
        return True

    def needs_lame(self, std: StdView) -> bool:
        return True

    def score(self, std: StdView, lame_logits: np.ndarray | None) -> Step:
        lame = usable_lame(lame_logits)
        if lame is None:
            return Step(dense_scores(std), False, True, fallback=True)
        return Step(Scores(None, cfg_scores(std, lame, self.gamma)), self.gamma != 1.0, True)


@dataclass(frozen=True)
class UscdOfficial(Rule):
    """The authors' released code: raw std(p) gate, mean-relative filter, log(p_std - w * p_lame)."""

    threshold: float = PAPER_STD_THRESHOLD
    weight: float = 0.7
    filter_num: float = 0.666667
    name = "uscd-official"

    def __post_init__(self) -> None:
        _check(
            _finite(self.weight) and self.weight >= 0,
            f"weight must be a finite number >= 0, got {self.weight}",
        )
        _check(
            _finite(self.filter_num) and self.filter_num >= 0,
            f"filter must be a finite number >= 0, got {self.filter_num}",
        )
        object.__setattr__(self, "_gate", Gate("std", self.threshold))

    @property
    def gate(self) -> Gate:
        return self._gate  # type: ignore[attr-defined]

    @property
    def uses_lame(self) -> bool:
        return True

    def gate_warning(self, vocab_size: int) -> str | None:
        return self.gate.warning(vocab_size)

    def needs_lame(self, std: StdView) -> bool:
        return self.gate.is_uncertain(std.uncertainty("std"))

    def score(self, std: StdView, lame_logits: np.ndarray | None) -> Step:
        value = std.uncertainty("std")
        if not self.gate.is_uncertain(value):
            return Step(dense_scores(std), False, False, value)
        lame = usable_lame(lame_logits)
        if lame is None:
            return Step(dense_scores(std), False, True, value, fallback=True)
        ids, scores, kept = official_scores(std, lame, self.weight, self.filter_num)
        if ids.size == 0:  # the authors' code would sample from an all -inf row here (audit §6.13)
            return Step(dense_scores(std), False, True, value, kept, fallback=True)
        return Step(Scores(ids, scores.astype(np.float32)), True, True, value, kept)


RULES: dict[str, type[Rule]] = {
    "greedy": Greedy,
    "sample": Greedy,  # standard prompt only; sampling comes from the selector
    "cd": Contrast,
    "cfg": Cfg,
    "uscd": Uscd,
    "uscd-official": UscdOfficial,
}


def make_rule(name: str, **knobs) -> Rule:
    """Build a rule from its name and the knobs it understands (others are ignored)."""
    if name not in RULES:
        raise UscdError(f"unknown rule {name!r}; choose one of {', '.join(RULES)}")
    cls = RULES[name]
    fields = set(cls.__dataclass_fields__)
    return cls(**{k: v for k, v in knobs.items() if k in fields and v is not None})


# ----------------------------------------------------------------------------------------------
# selection


@dataclass(frozen=True)
class Sampler:
    """Turns candidate scores into a token: argmax when temperature == 0, else sampling."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check(
            _finite(self.temperature) and self.temperature >= 0,
            f"temperature must be >= 0, got {self.temperature}",
        )
        _check(_finite(self.top_p) and 0 < self.top_p <= 1, f"top-p must be in (0, 1], got {self.top_p}")
        _check(
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
    finite = np.isfinite(logits)
    if not finite.all():
        ids, logits = ids[finite], logits[finite]
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
