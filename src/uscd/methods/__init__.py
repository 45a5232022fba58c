"""Decoding methods: pure functions of next-token logits (numpy only; no model, no I/O).

Every rule sees the *standard* prompt's logits and, on the steps where it asks for them, the logits
of its auxiliary prompt (the *lame* prompt for the contrast rules) for the same generated prefix.
It returns candidate scores (tokens that are not candidates score -inf); a `Sampler` then takes
the argmax or samples. One module per method; adding one = a rule class here + its entry in
RULES (+ an auxiliary-prompt builder in uscd.prompts.auxiliary if it reads a new kind of prompt).
"""

from __future__ import annotations

from uscd.errors import UscdError
from uscd.methods.adadec import AdaDec, adadec_scores, top_candidates
from uscd.methods.branch import BranchSearch, FilterSearch
from uscd.methods.cd import Contrast, contrast_scores
from uscd.methods.cfg import Cfg, cfg_scores
from uscd.methods.gate import (
    DEFAULT_THRESHOLDS,
    MEASURES,
    PAPER_STD_NORM_THRESHOLD,
    PAPER_STD_THRESHOLD,
    PAPER_VOCAB,
    Gate,
    measure_range,
    top2,
    uncertainty,
)
from uscd.methods.greedy import Greedy
from uscd.methods.intent import IntentCoding, intent_candidates
from uscd.methods.official import UscdOfficial, official_scores
from uscd.methods.rule import Rule
from uscd.methods.sampling import Sampler, nucleus
from uscd.methods.spa import Spa, spa_scores
from uscd.methods.uscd import Uscd
from uscd.methods.view import (
    LOGP_FLOOR,
    Rollout,
    Scores,
    StdView,
    Step,
    dense_scores,
    log_softmax,
    logsumexp,
    sanitize,
    softmax,
    usable_lame,
)

RULES: dict[str, type[Rule]] = {
    "greedy": Greedy,
    "sample": Greedy,  # standard prompt only; sampling comes from the selector
    "cd": Contrast,
    "cfg": Cfg,
    "uscd": Uscd,
    "uscd-official": UscdOfficial,
    "spa": Spa,
    "adadec": AdaDec,
    "intent": IntentCoding,
    "branch": BranchSearch,
    "filter": FilterSearch,
}


def make_rule(name: str, **knobs) -> Rule:
    """Build a rule from its name and the knobs it understands (others are ignored)."""
    if name not in RULES:
        raise UscdError(f"unknown rule {name!r}; choose one of {', '.join(RULES)}")
    cls = RULES[name]
    fields = set(cls.__dataclass_fields__)
    return cls(**{k: v for k, v in knobs.items() if k in fields and v is not None})


__all__ = [
    "DEFAULT_THRESHOLDS",
    "LOGP_FLOOR",
    "MEASURES",
    "PAPER_STD_NORM_THRESHOLD",
    "PAPER_STD_THRESHOLD",
    "PAPER_VOCAB",
    "RULES",
    "AdaDec",
    "BranchSearch",
    "Cfg",
    "Contrast",
    "FilterSearch",
    "Gate",
    "Greedy",
    "IntentCoding",
    "Rollout",
    "Rule",
    "Sampler",
    "Scores",
    "Spa",
    "StdView",
    "Step",
    "Uscd",
    "UscdOfficial",
    "adadec_scores",
    "cfg_scores",
    "contrast_scores",
    "dense_scores",
    "intent_candidates",
    "log_softmax",
    "logsumexp",
    "make_rule",
    "measure_range",
    "nucleus",
    "official_scores",
    "sanitize",
    "softmax",
    "spa_scores",
    "top2",
    "top_candidates",
    "uncertainty",
    "usable_lame",
]
