"""The contract every decoding rule follows (transformers' LogitsProcessor is the model).

A rule is a frozen dataclass whose fields are its knobs, validated at construction. It declares
the auxiliary prompts it scores against (``aux``: none, ``("lame",)``, ...); the engine keeps one
extra context per name conditioned on the same generated tokens, brought up to date only on the
steps where ``needs_aux`` says the rule will read it. ``score`` is pure: numpy in, ``Step`` out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from uscd.errors import UscdError
from uscd.methods.view import Rollout, StdView, Step, dense_scores


def check(cond: bool, message: str) -> None:
    if not cond:
        raise UscdError(message)


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class Rule:
    """Base of all rules: standard prompt only, the greedy scores."""

    name: ClassVar[str] = "rule"
    # names of the auxiliary prompts this rule reads (see uscd.prompts.auxiliary for their builders);
    # a rule whose prompt depends on a knob (SPA's mask) makes it a property of the instance
    aux: ClassVar[tuple[str, ...]] = ()
    # True: the engine runs the request through a program-level search (uscd.search), which decodes
    # with this rule's per-token choice, instead of decoding it once (the `branch` method)
    program_search: ClassVar[bool] = False

    def needs_aux(self, std: StdView) -> bool:
        """Will `score` read the auxiliary logits at this step? (False: the engine skips them.)"""
        return False

    def score(self, std: StdView, aux_logits: np.ndarray | None) -> Step:
        """Scores of one step. `aux_logits`: None on steps that need none, else the logits of the
        rule's auxiliary context (a tuple, in declared order, when it declares several)."""
        return Step(dense_scores(std))

    # -- looking ahead (AdaDec): the engine rolls candidates out, the rule reranks them ---------

    def max_lookahead(self) -> int:
        """Tokens a rollout may run ahead (0: this rule never looks ahead; drivers reserve nothing)."""
        return 0

    def lookahead(self, std: StdView) -> np.ndarray | None:
        """Candidate tokens to roll out at this step, or None to decide from `score` alone."""
        return None

    def rerank(self, std: StdView, rollouts: tuple[Rollout, ...]) -> Step:
        """Scores of a step whose candidates were rolled out (only called after `lookahead`)."""
        raise NotImplementedError

    def gate_warning(self, vocab_size: int) -> str | None:
        return None

    def knobs(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @classmethod
    def knob_types(cls) -> dict[str, type]:
        """The knobs this rule takes and their types, read from the dataclass fields."""
        return {f.name: _field_type(f.type) for f in fields(cls) if f.init and not f.name.startswith("_")}


def _field_type(annotation) -> type:
    # annotations are strings under `from __future__ import annotations`
    return {"float": float, "int": int, "str": str, "bool": bool}.get(str(annotation), str)
