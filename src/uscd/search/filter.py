"""The equal-compute baseline of the `branch` method (issue #18): sample up to `n` programs and
keep the first that passes the prompt's own examples; if none does, the one that passes the most
(ties to the earlier sample). Choose `n` so that its programs (tokens, executions) match the branch
method's average on the same problems (its summary's `search.mean_programs`).
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import replace

from uscd.engine.generation import Generation
from uscd.engine.request import Request
from uscd.engine.single import Decoder
from uscd.errors import UscdError
from uscd.methods import Sampler
from uscd.prompts.examples import extract_checks
from uscd.search.branch import Judge
from uscd.search.checks import run_checks
from uscd.search.decoders import ProgramDecoder, program_decoder
from uscd.search.subject import subject_of


def filter_generate(
    decoder: Decoder | ProgramDecoder, request: Request, *, judge: Judge = run_checks
) -> Generation:
    """The `filter` method on one request (a Python prompt; a chat's request carries its subject),
    decoded by `decoder` (the single-stream Decoder, or any ProgramDecoder: uscd.search.decoders)."""
    rule, started = request.rule, time.perf_counter()
    decoder = program_decoder(decoder)
    subject = subject_of(request)
    examples = extract_checks(subject.examples_from, subject.language)
    sampled = replace(request, sampler=_sampler(request))  # one generator for all n samples
    tries: list[dict] = []
    best: Generation | None = None
    best_passed, chosen, tokens = -1, 0, 0
    for i in range(rule.n):
        gen = decoder.generate(sampled)
        tokens += gen.steps
        if not examples.checks:
            return _done(gen, examples, tries, 0, tokens, started, "no-checks", 0)
        verdict = judge(subject.solution(gen.completion), examples.checks)
        tries.append({"sample": i, "tokens": gen.steps, "checks": verdict.to_dict()})
        if verdict.all_passed:
            return _done(gen, examples, tries, i, tokens, started, "sample-passed", verdict.n_passed)
        if verdict.n_passed > best_passed:
            best, best_passed, chosen = gen, verdict.n_passed, i
    assert best is not None
    return _done(best, examples, tries, chosen, tokens, started, "best-sample", best_passed)


def matched_n(summary: dict) -> int:
    """The filter's n for a branch run's summary: its mean programs per problem, rounded up, at
    least 2 (one sample is greedy's cost; the baseline must be allowed a second try)."""
    search = (summary.get("generation") or {}).get("search") or {}
    if "mean_programs" not in search:
        raise UscdError("the summary has no search.mean_programs: is it a branch run?")
    return max(2, math.ceil(search["mean_programs"]))


def _sampler(request: Request) -> Sampler:
    """The rule's temperature; the request's seed, or one drawn from the prompt (reproducible)."""
    given = request.sampler
    seed = given.seed if given.seed is not None else zlib.crc32(request.prompt.encode())
    return Sampler(request.rule.temperature, given.top_p, given.top_k, seed)


def _done(gen, examples, tries, chosen, tokens, started, outcome, passed) -> Generation:
    gen.search = {
        "outcome": outcome,
        "checks": len(examples.checks),
        "skipped_examples": len(examples.skipped),
        "passed": passed,
        "chosen": chosen,
        "programs": max(len(tries), 1),
        "executions": len(tries),
        "tokens_decoded": tokens,
        "search_s": round(time.perf_counter() - started, 4),
        "note": "the prompt has no executable examples" if outcome == "no-checks" else "",
        "samples": tries,
    }
    return gen
