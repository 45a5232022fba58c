"""IntentCoding's multi-strength intent ensemble (arXiv 2602.00066, ACL Findings 2026), one token
at a time.

With ``o`` the standard logits and ``o_masked`` those of the prompt with its intent masked, every
strength α of the ensemble picks the top token of ``o + α·(o − o_masked)``; a token picked by
several strengths scores the mean of its softmax probabilities under them
(fangz-cs/IntentCoding ``decoding.ensemble_candidates``). The paper expands those candidates in a
beam search of width 4 and prefers finished beams by mean log-probability; this engine decodes one
sequence, so ``intent`` takes the best candidate at every step (the search with beam width 1,
EOS competing like any token). The intent span is SPA's anchored description; the authors mask
it by attention (same positions), the nearest a llama.cpp context has is removing it (``drop``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from uscd.methods.rule import Rule, check
from uscd.methods.spa import MASKS
from uscd.methods.view import Scores, StdView, Step, dense_scores, softmax, usable_lame

# "/"-separated: commas separate methods in `--methods`
DEFAULT_ALPHAS = "0/0.2/0.4/0.6/0.8/1"


def parse_alphas(text: str) -> tuple[float, ...]:
    try:
        alphas = tuple(float(a) for a in re.split(r"[,/]", text) if a.strip())
    except ValueError:
        alphas = ()
    check(bool(alphas) and all(np.isfinite(alphas)), f"alphas must be numbers separated by '/', got {text!r}")
    return alphas


def intent_candidates(
    std: np.ndarray, masked: np.ndarray, alphas: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(token ids ascending, mean probability of each) over the strengths that chose them."""
    signal = std - masked
    chosen: dict[int, list[float]] = {}
    for alpha in alphas:
        probs = softmax((std + np.float32(alpha) * signal).astype(np.float32))
        token = int(np.argmax(probs))
        chosen.setdefault(token, []).append(float(probs[token]))
    ids = np.array(sorted(chosen))
    return ids, np.array([sum(chosen[t]) / len(chosen[t]) for t in ids])


@dataclass(frozen=True)
class IntentCoding(Rule):
    """`intent`: every step, the best token of the multi-strength intent ensemble."""

    alphas: str = DEFAULT_ALPHAS
    mask: str = "drop"
    name = "intent"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_alphas", parse_alphas(self.alphas))
        check(self.mask in MASKS, f"mask must be one of {', '.join(MASKS)}, got {self.mask!r}")

    @property
    def aux(self) -> tuple[str, ...]:  # type: ignore[override]
        return (MASKS[self.mask],)

    def needs_aux(self, std: StdView) -> bool:
        return True

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        masked = usable_lame(aux_logits)
        if masked is None or not np.isfinite(std.logits).all():
            return Step(dense_scores(std), False, True, fallback=True)
        ids, mean_probs = intent_candidates(std.logits, masked, self._alphas)  # type: ignore[attr-defined]
        with np.errstate(divide="ignore"):
            scores = np.log(mean_probs).astype(np.float32)
        return Step(Scores(ids, scores), True, True, head_size=int(ids.size))
