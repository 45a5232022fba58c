"""The `branch` method (issue #18): branch at uncertain steps, keep the branch that passes the
prompt's own examples.

1. Decode the request with its rule (greedy): program A, with each step's uncertainty (the rule's
   `measure`) and its other V_head tokens (p >= alpha·max p) in order of probability.
2. Turn the prompt's examples into checks (uscd.prompts.examples) and run A's in the sandbox. A
   prompt without checks, or an A that passes them all, ends the search: A is the answer.
3. Otherwise, at the `k` most uncertain steps of A that have another head token, for at most `m`
   of those tokens each: fork A there (the prefix's KV cache is copied, not recomputed), force the
   token, continue with the rule to the end (the request's stop sequences and token limit), run the
   checks. The first branch that passes them all is the answer; if none does, the one that passes
   the most checks, ties to A (and among branches to the earlier one).

Only the prompt is read for checks: the search never sees reference solutions or hidden tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from uscd.engine.feed import Stopped
from uscd.engine.generation import Generation
from uscd.engine.request import Request
from uscd.engine.single import Decoder
from uscd.errors import UscdError
from uscd.methods import StdView, Step
from uscd.prompts.examples import Check, Examples, extract_checks
from uscd.search.checks import CheckRun, run_checks
from uscd.search.decoders import ProgramDecoder, program_decoder
from uscd.search.subject import Subject, subject_of

Judge = Callable[[str, Sequence[Check]], CheckRun]


@dataclass(frozen=True)
class Point:
    """A step of A where the search may branch: its uncertainty and the other head tokens."""

    step: int
    uncertainty: float
    alternatives: tuple[int, ...]


class PointRecorder:
    """A step hook that records every step's uncertainty and other head tokens (at most `m`)."""

    def __init__(self, measure: str, alpha: float, m: int) -> None:
        self.measure, self.alpha, self.m = measure, alpha, m
        self.points: list[Point] = []

    def __call__(self, index: int, view: StdView, aux, step: Step, token: int) -> None:
        head = view.head(self.alpha)
        by_probability = head[(-view.logits[head]).argsort(kind="stable")]
        others = tuple(int(t) for t in by_probability if int(t) != token)[: self.m]
        self.points.append(Point(index, view.uncertainty(self.measure), others))


def most_uncertain(points: list[Point], measure: str, k: int) -> list[Point]:
    """The `k` most uncertain points that have an alternative, most uncertain first (ties: earlier)."""
    sign = -1.0 if measure == "entropy" else 1.0  # entropy grows with uncertainty, the others shrink
    usable = [p for p in points if p.alternatives]
    return sorted(usable, key=lambda p: (sign * p.uncertainty, p.step))[:k]


@dataclass
class Search:
    """What the search did for one request (recorded in the Generation it returns)."""

    checks: Examples
    tries: list[dict] = field(default_factory=list)
    a_checks: dict | None = None  # A's verdicts
    a_completion: str = ""  # A itself (greedy with a greedy rule): a paired baseline at no cost
    a_tokens: int = 0  # A's steps
    executions: int = 0
    branch_tokens: int = 0

    def record(self, outcome: str, chosen: int, passed: int, started: float, note: str = "") -> dict:
        return {
            "outcome": outcome,
            "checks": len(self.checks.checks),
            "skipped_examples": len(self.checks.skipped),
            "passed": passed,
            "chosen": chosen,  # -1: A; else the index of the chosen branch in `branches`
            "a_checks": self.a_checks,
            "branches_tried": len(self.tries),
            "executions": self.executions,
            "branch_tokens": self.branch_tokens,
            "programs": 1 + len(self.tries),  # A and the branches: what an equal-compute baseline matches
            "tokens_decoded": self.a_tokens + self.branch_tokens,
            "search_s": round(time.perf_counter() - started, 4),
            "note": note,
            "branches": self.tries,
            "a_completion": self.a_completion,
        }


def branch_generate(
    decoder: Decoder | ProgramDecoder, request: Request, *, judge: Judge = run_checks
) -> Generation:
    """The `branch` method on one request (a Python prompt; a chat's request carries its subject),
    decoded by `decoder` (the single-stream Decoder, or any ProgramDecoder: uscd.search.decoders)."""
    rule = request.rule
    started = time.perf_counter()
    decoder = program_decoder(decoder)
    recorder = PointRecorder(rule.measure, rule.alpha, rule.m)
    base = decoder.generate(request, recorder)
    subject = subject_of(request)
    examples = extract_checks(subject.examples_from, subject.language)
    search = Search(examples, a_completion=base.completion, a_tokens=base.steps)
    checks = search.checks.checks
    if not checks:
        base.search = search.record("no-checks", -1, 0, started, "the prompt has no executable examples")
        return base
    verdict = _judge(judge, search, subject, base, checks)
    search.a_checks = verdict.to_dict()
    if verdict.all_passed:
        base.search = search.record("a-passed", -1, verdict.n_passed, started)
        return base
    best, best_passed, chosen = base, verdict.n_passed, -1
    for point, token in _candidates(recorder.points, rule):
        if why := _over_budget(search, rule):
            return _finish(search, best, best_passed, chosen, started, why)
        try:
            branch = decoder.branch(request, base, point.step, token)
        except Stopped:  # cancelled, out of time, shut down: the whole search stops
            raise
        except UscdError as exc:  # e.g. the context is full: this branch is lost, not the problem
            search.tries.append({"step": point.step, "token": token, "error": str(exc), "kept": ""})
            continue
        search.branch_tokens += branch.steps - point.step
        result = _judge(judge, search, subject, branch, checks)
        _record_try(search, decoder, point, token, branch, result)
        if result.all_passed:
            search.tries[-1]["kept"] = "passes every check"
            return _finish(search, branch, result.n_passed, len(search.tries) - 1, started, "")
        if result.n_passed > best_passed:
            best, best_passed, chosen = branch, result.n_passed, len(search.tries) - 1
    return _finish(search, best, best_passed, chosen, started, "")


def _candidates(points: list[Point], rule) -> list[tuple[Point, int]]:
    return [(p, t) for p in most_uncertain(points, rule.measure, rule.k) for t in p.alternatives[: rule.m]]


def _over_budget(search: Search, rule) -> str:
    if len(search.tries) >= rule.max_branches:
        return f"branch budget reached ({rule.max_branches} branches)"
    if rule.max_branch_tokens and search.branch_tokens >= rule.max_branch_tokens:
        return f"token budget reached ({search.branch_tokens} of {rule.max_branch_tokens} branch tokens)"
    return ""


def _judge(judge: Judge, search: Search, subject: Subject, gen: Generation, checks) -> CheckRun:
    search.executions += 1
    return judge(subject.solution(gen.completion), checks)


def _record_try(
    search: Search, decoder: ProgramDecoder, point: Point, token: int, gen: Generation, result
) -> None:
    search.tries.append(
        {
            "step": point.step,
            "uncertainty": round(float(point.uncertainty), 6),
            "token": token,
            "text": decoder.piece(token).decode("utf-8", errors="replace"),
            "tokens": gen.steps - point.step,
            "finish_reason": gen.finish_reason,
            "checks": result.to_dict(),
            "kept": "",
        }
    )


def _finish(
    search: Search, best: Generation, passed: int, chosen: int, started: float, why: str
) -> Generation:
    """Say which program was kept and why each other branch was dropped; record the search."""
    kept = "A" if chosen < 0 else f"branch {chosen}"
    total = len(search.checks.checks)
    for i, attempt in enumerate(search.tries):
        if i == chosen:
            attempt["kept"] = attempt["kept"] or "passes the most checks"
        elif "error" in attempt:
            attempt["dropped"] = f"not decoded: {attempt['error']}"
        else:
            n = attempt["checks"]["passed"]
            attempt["dropped"] = f"passes {n} of {total} checks; kept {kept} ({passed})"
    if chosen < 0:
        outcome = "a-kept"
    else:
        outcome = "branch-passed" if search.tries[chosen]["kept"] == "passes every check" else "best-branch"
    best.search = search.record(outcome, chosen, passed, started, why)
    return best


def check_setting(rule, language: str = "python") -> None:
    """The branch method's one-line refusals: languages without example checks, lookahead rules."""
    from uscd.prompts.examples_multipl_e import LANGUAGES

    if language != "python" and language not in LANGUAGES:
        known = ", ".join(["python", *LANGUAGES])
        raise UscdError(f"the branch method reads examples from prompts in {known}, not {language}")
    if rule.max_lookahead() > 0:
        raise UscdError("the branch method cannot decode with a rule that looks ahead")
