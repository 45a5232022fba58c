"""`branch`: the knobs of the program-level search that branches at uncertain steps and keeps the
branch that passes the prompt's own examples (uscd.search.branch runs it; issue #18), and `filter`,
its equal-compute baseline: sample n programs, keep the first that passes them (uscd.search.filter).

Per token it is greedy (with the request's sampler): a rule's `score` sees one step, while this
method judges whole programs. The engine sees ``program_search`` and hands the request to the search
instead of decoding it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from uscd.methods.gate import MEASURES
from uscd.methods.rule import Rule, check, finite


@dataclass(frozen=True)
class BranchSearch(Rule):
    """Decode greedily (program A); if A fails the prompt's examples, branch at the `k` most
    uncertain steps of A (by `measure`) on at most `m` other V_head tokens each (p >= alpha·max p),
    at most `max_branches` branches and `max_branch_tokens` branch tokens (0: no token budget)."""

    k: int = 3
    m: int = 2
    alpha: float = 0.1
    measure: str = "std-norm"
    max_branches: int = 6
    max_branch_tokens: int = 0
    name = "branch"
    program_search: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for knob in ("k", "m", "max_branches"):
            value = getattr(self, knob)
            check(isinstance(value, int) and value >= 1, f"{knob} must be an integer >= 1, got {value}")
        budget = self.max_branch_tokens
        check(isinstance(budget, int) and budget >= 0, f"max_branch_tokens must be >= 0, got {budget}")
        check(finite(self.alpha) and 0 < self.alpha <= 1, f"alpha must be in (0, 1], got {self.alpha}")
        check(self.measure in MEASURES, f"measure must be one of {', '.join(MEASURES)}, got {self.measure!r}")


@dataclass(frozen=True)
class FilterSearch(Rule):
    """Sample up to `n` programs at `temperature`; keep the first that passes the prompt's examples,
    else the one that passes the most (ties to the earlier)."""

    n: int = 4
    temperature: float = 0.8
    name = "filter"
    program_search: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check(isinstance(self.n, int) and self.n >= 1, f"n must be an integer >= 1, got {self.n}")
        t = self.temperature
        check(finite(t) and t > 0, f"temperature must be a finite number > 0, got {t}")
