"""Greedy decoding (and, with a sampling selector, plain sampling): the standard prompt only."""

from __future__ import annotations

from dataclasses import dataclass

from uscd.methods.rule import Rule


@dataclass(frozen=True)
class Greedy(Rule):
    """Standard prompt only."""

    name = "greedy"
