"""Program-level search: decode, judge the program by the prompt's own examples, branch where the
model was unsure (the `branch` method). Decoding rules choose tokens; this package chooses programs."""

from __future__ import annotations

import time


def run_search(decoder, request, level: str = "auto"):
    """The program search a rule stands for (its `program_search`), on one request; the prompt's
    checks run at sandbox `level`. The Generation it returns spans the whole search, so a run's wall
    time counts every program decoded and checked, not the kept one's decode alone."""
    started_at = time.time()
    gen = _search(decoder, request, level)
    gen.started_at, gen.finished_at = started_at, time.time()
    return gen


def _search(decoder, request, level: str):
    from functools import partial

    from uscd.search.checks import run_checks

    judge = partial(run_checks, level=level)
    if request.rule.name == "filter":
        from uscd.search.filter import filter_generate

        return filter_generate(decoder, request, judge=judge)
    from uscd.search.branch import branch_generate

    return branch_generate(decoder, request, judge=judge)
