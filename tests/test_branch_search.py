"""The `branch` method's search on the fake model (tests/test_batched.py): branching equals a fresh
decode of the same forced prefix, the search keeps what the issue says it keeps, budgets hold, and
the wiring (rule, method grammar, engine) reaches it. Checks are judged by a stand-in here, except
in the end-to-end test, which runs the real sandbox."""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from tests.test_batched import EOS, FakeBackend, FakeSequence

from uscd.engine import Decoder, Engine, GenerationConfig, Request
from uscd.errors import UscdError
from uscd.methods import (
    BranchSearch,
    FilterSearch,
    Greedy,
    Rule,
    Sampler,
    Scores,
    Step,
    dense_scores,
    make_rule,
)
from uscd.methods.spec import parse_methods
from uscd.search import branch as search
from uscd.search import filter as filter_search
from uscd.search.checks import CheckRun, run_checks
from uscd.summary import covered_seconds


class _Sequence(FakeSequence):
    def extend(self, tokens, copy=True):
        row = super().extend(tokens, copy).copy()
        row[EOS] -= 100.0  # the fake model's EOS grows likely past 60 tokens: keep programs long here
        return row


class Fake(FakeBackend):
    def sequence(self):
        return _Sequence(self)


PROMPT = "def f(x):\n    '''Triple it.\n    >>> f(1)\n    3\n    >>> f(2)\n    6\n    '''\n"
CONFIG = GenerationConfig(max_new_tokens=30, stop=("qq",))


@dataclass(frozen=True)
class Forced(Rule):
    """Test only: the given tokens first, then greedy — a fresh decode of a forced prefix."""

    prefix: tuple = ()
    seen: list = field(default_factory=list, compare=False)
    name: ClassVar[str] = "forced"

    def score(self, std, aux_logits):
        i = len(self.seen)
        self.seen.append(i)
        if i < len(self.prefix):
            return Step(Scores(np.array([self.prefix[i]]), np.zeros(1, dtype=np.float32)))
        return Step(dense_scores(std))


def request(rule=None, prompt=PROMPT, config=CONFIG) -> Request:
    return Request(prompt, None, rule or BranchSearch(), Sampler(), config)


def base_and_points(rule: BranchSearch, prompt=PROMPT):
    recorder = search.PointRecorder(rule.measure, rule.alpha, rule.m)
    gen = Decoder(Fake()).generate(prompt, None, rule, Sampler(), CONFIG, hook=recorder)
    return gen, recorder.points


def verdict(n_passed: int, total: int = 2) -> CheckRun:
    passed = (True,) * n_passed + (False,) * (total - n_passed)
    return CheckRun(passed, tuple("" if ok else "wrong" for ok in passed), "pass", "", 0.0)


def judge_by_completion(scores: dict[str, int], default: int = 0):
    """A stand-in judge: checks passed, by completion; every solution it saw, in order."""
    seen: list[str] = []

    def judge(solution: str, checks) -> CheckRun:
        assert solution.startswith(PROMPT) and len(checks) == 2
        seen.append(solution[len(PROMPT) :])
        return verdict(scores.get(seen[-1], default))

    judge.seen = seen
    return judge


def candidates(rule: BranchSearch):
    gen, points = base_and_points(rule)
    chosen = search.most_uncertain(points, rule.measure, rule.k)
    return gen, [(p.step, t) for p in chosen for t in p.alternatives]


def branch_completion(step: int, token: int, rule: BranchSearch) -> str:
    dec = Decoder(Fake())
    base = dec.generate(PROMPT, None, rule, Sampler(), CONFIG)
    return dec.branch(request(rule), base, step, token).completion


# -- branching -------------------------------------------------------------------------------


def test_a_branch_equals_a_fresh_decode_of_the_same_forced_prefix():
    rule = Greedy()
    backend = Fake()
    dec = Decoder(backend)
    base = dec.generate(PROMPT, None, rule, Sampler(), CONFIG)
    prompt_tokens = len(backend.tokenize(PROMPT))
    assert len(base.tokens) > 10
    for at in (0, 1, 5, len(base.tokens) - 1):
        for token in (3, 17, 0):  # 0 is EOS: the branch ends at its fork point
            before = backend.evaluated
            branched = dec.branch(request(rule), base, at, token)
            reused = backend.evaluated - before
            forced = Forced((*base.tokens[:at], token))
            fresh = Decoder(Fake()).generate(PROMPT, None, forced, Sampler(), CONFIG)
            assert (branched.tokens, branched.completion, branched.finish_reason) == (
                fresh.tokens,
                fresh.completion,
                fresh.finish_reason,
            )
            assert branched.steps == fresh.steps
            assert [t.token for t in branched.trace] == [t.token for t in fresh.trace]
            afresh = Decoder(Fake())
            before = afresh.backend.evaluated
            again = afresh.branch(request(rule), base, at, token, reuse_cache=False)
            assert again.tokens == branched.tokens
            if token != EOS and at + 1 < CONFIG.max_new_tokens:  # the prefix was copied, not evaluated
                assert afresh.backend.evaluated - before - reused == prompt_tokens + at
    assert dec.std.tokens[:prompt_tokens] == backend.tokenize(PROMPT)  # A stays held for the next fork


def test_branching_from_a_sequence_that_moved_on_is_refused():
    dec = Decoder(Fake())
    base = dec.generate(PROMPT, None, Greedy(), Sampler(), CONFIG)
    dec.generate(PROMPT + "x", None, Greedy(), Sampler(), CONFIG)
    with pytest.raises(UscdError, match="no longer holds"):
        dec.branch(request(Greedy()), base, 3, 4)


def test_points_are_the_head_tokens_by_probability_and_the_most_uncertain_first():
    rule = BranchSearch(k=3, m=2, alpha=0.1)
    gen, points = base_and_points(rule)
    assert len(points) == gen.steps
    for point, token in zip(points, gen.tokens, strict=False):
        assert token not in point.alternatives and len(point.alternatives) <= 2
    chosen = search.most_uncertain(points, "std-norm", 3)
    assert len(chosen) == 3 and all(p.alternatives for p in chosen)
    others = [p.uncertainty for p in points if p.alternatives and p not in chosen]
    assert max(p.uncertainty for p in chosen) <= min(others)
    by_entropy = search.most_uncertain(
        [search.Point(0, 0.2, (1,)), search.Point(1, 2.0, (1,)), search.Point(2, 1.0, ())], "entropy", 2
    )
    assert [p.step for p in by_entropy] == [1, 0]


# -- the search ------------------------------------------------------------------------------


def test_a_that_passes_is_the_answer_with_no_branch():
    judge = judge_by_completion({}, default=2)
    gen = search.branch_generate(Decoder(Fake()), request(), judge=judge)
    base, _ = base_and_points(BranchSearch())
    assert gen.tokens == base.tokens
    assert gen.search["outcome"] == "a-passed"
    assert (gen.search["branches_tried"], gen.search["executions"], gen.search["branch_tokens"]) == (0, 1, 0)


def test_the_first_branch_that_passes_is_returned():
    rule = BranchSearch()
    _, tries = candidates(rule)
    assert len(tries) >= 3
    winner = branch_completion(*tries[1], rule)  # the second candidate passes
    judge = judge_by_completion({winner: 2})
    gen = search.branch_generate(Decoder(Fake()), request(rule), judge=judge)
    assert gen.completion == winner
    base, _ = base_and_points(rule)
    assert (
        gen.search["a_completion"] == base.completion != winner
        and "a_completion" not in gen.stats()["search"]
    )
    record = gen.search
    assert record["outcome"] == "branch-passed" and record["chosen"] == 1
    assert [(b["step"], b["token"]) for b in record["branches"]] == tries[:2]
    assert record["branches"][1]["kept"] == "passes every check"
    assert record["branches"][0]["dropped"].startswith("passes 0 of 2")
    assert record["executions"] == 3 and len(judge.seen) == 3


def test_none_passes_the_most_passing_wins_and_ties_go_to_a():
    rule = BranchSearch()
    base, tries = candidates(rule)
    completions = [branch_completion(step, token, rule) for step, token in tries[: rule.max_branches]]
    tie = judge_by_completion({base.completion: 1, completions[0]: 1})
    gen = search.branch_generate(Decoder(Fake()), request(rule), judge=tie)
    assert gen.completion == base.completion and gen.search["outcome"] == "a-kept"
    assert gen.search["branches_tried"] == min(len(tries), rule.max_branches)
    better = judge_by_completion({base.completion: 0, completions[0]: 1, completions[2]: 1})
    gen = search.branch_generate(Decoder(Fake()), request(rule), judge=better)
    assert gen.completion == completions[0] and gen.search["outcome"] == "best-branch"  # ties: earlier


def test_budgets_are_respected():
    rule = BranchSearch(k=3, m=2, max_branches=2)
    gen = search.branch_generate(Decoder(Fake()), request(rule), judge=judge_by_completion({}))
    assert gen.search["branches_tried"] == 2 and "branch budget" in gen.search["note"]
    rule = BranchSearch(k=3, m=2, max_branch_tokens=1)
    gen = search.branch_generate(Decoder(Fake()), request(rule), judge=judge_by_completion({}))
    assert gen.search["branches_tried"] == 1 and "token budget" in gen.search["note"]
    assert gen.search["branch_tokens"] == gen.search["branches"][0]["tokens"] >= 1


def test_a_prompt_without_examples_gives_a_with_a_note():
    prompt = "def f(x):\n    '''Triple it.'''\n"
    judge = judge_by_completion({})
    gen = search.branch_generate(Decoder(Fake()), request(prompt=prompt), judge=judge)
    plain = Decoder(Fake()).generate(prompt, None, Greedy(), Sampler(), CONFIG)
    assert gen.tokens == plain.tokens and judge.seen == []
    assert gen.search["outcome"] == "no-checks" and "no executable examples" in gen.search["note"]


def test_end_to_end_through_the_engine_with_the_real_sandbox():
    """The fake model writes letters, not Python: every program fails its checks, A is kept."""
    rule = make_rule("branch", max_branches=2)
    ((index, gen),) = list(Engine(Fake()).generate([request(rule)], 1))
    assert index == 0 and gen.search["outcome"] == "a-kept"
    assert gen.search["executions"] == 3 and gen.search["checks"] == 2
    assert gen.search["a_checks"]["verdicts"] == "00"
    stats = gen.stats()
    assert stats["search"]["branches_tried"] == 2 and "branches" not in stats["search"]
    ((_, batched),) = list(Engine(Fake()).generate([request(rule)], 2))  # the serve loop's path
    assert batched.search["outcome"] == "a-kept" and batched.search["a_checks"]["verdicts"] == "00"


def test_the_search_judges_only_in_the_sandbox_and_reads_only_the_prompt():
    assert inspect.signature(search.branch_generate).parameters["judge"].default is run_checks
    assert "uscd.search._harness" not in sys.modules  # its source is a sandboxed program's text


# -- wiring ----------------------------------------------------------------------------------


def test_the_method_grammar_and_the_knobs():
    (spec,) = parse_methods("b=branch:k=2:m=1:max_branches=3:measure=entropy")
    rule = spec.build({})
    assert isinstance(rule, BranchSearch) and rule.program_search
    assert (rule.k, rule.m, rule.max_branches, rule.measure) == (2, 1, 3, "entropy")
    assert rule.knobs() == {
        "k": 2,
        "m": 1,
        "alpha": 0.1,
        "measure": "entropy",
        "max_branches": 3,
        "max_branch_tokens": 0,
    }
    for bad in ({"k": 0}, {"m": -1}, {"alpha": 0.0}, {"measure": "vibes"}, {"max_branch_tokens": -2}):
        with pytest.raises(UscdError):
            BranchSearch(**bad)
    with pytest.raises(UscdError, match="unknown knob"):
        parse_methods("branch:depth=2")


def test_refusals_are_one_line():
    with pytest.raises(UscdError, match="not scala"):
        search.check_setting(BranchSearch(), language="scala")
    search.check_setting(BranchSearch(), language="cpp")  # MultiPL-E's 12 languages have check frames


def test_eval_runs_the_search_and_summarises_its_cost(tmp_path, monkeypatch):
    """`uscd eval` with a fake model: samples carry the search's counters, traces its branches,
    the summary how many problems stopped at A, branches and executions per problem."""
    from tests.test_runner import Recorder

    from uscd import engine, models, runner
    from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings
    from uscd.runs import read_jsonl

    monkeypatch.setattr(engine, "open_engine", lambda *a, **k: engine.Engine(Fake()))
    monkeypatch.setattr(models, "describe", lambda path: {"name": "fake", "sha256": "0" * 64})
    settings = EvalSettings(
        RunSettings("humaneval", {}, parse_methods("b=branch:max_branches=2"), tmp_path, limit=2),
        generation=GenerationSettings(max_new_tokens=8),
    )
    (summary,) = runner.run_eval(settings, progress=Recorder())
    cost = summary["generation"]["search"]
    assert cost["problems"] == 2 and cost["mean_programs"] == 3.0 and cost["mean_executions"] == 3.0
    assert cost["stopped_at_first"] == 0 and cost["outcomes"] == {"a-kept": 2}
    assert cost["programs_histogram"] == {"3": 2} and cost["tokens_decoded"] > cost["branch_tokens"] > 0
    samples = list(read_jsonl(tmp_path / "b" / "samples.jsonl"))
    assert all(s["stats"]["search"]["branches_tried"] == 2 for s in samples)
    # a sample's span is its whole search (A, the branches, the checks), not the kept program's decode
    spans = [(s["stats"]["finished_at"] - s["stats"]["started_at"], s["stats"]["search"]) for s in samples]
    assert all(span >= record["search_s"] - 1e-3 for span, record in spans)
    # the run's wall figure is the union of those spans
    union = covered_seconds((s["stats"]["started_at"], s["stats"]["finished_at"]) for s in samples)
    assert summary["generation"]["wall_s"] == round(union, 2)
    traces = list(read_jsonl(tmp_path / "b" / "traces.jsonl"))
    assert all(len(t["search"]["branches"]) == 2 for t in traces)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["method"]["rule"] == "branch" and config["method"]["knobs"]["max_branches"] == 2


def test_eval_refuses_other_languages_before_loading_a_model():
    from uscd import runner
    from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings
    from uscd.tasks import Problem

    rules = {"b": BranchSearch()}
    cpp = Problem("t/0", "int f();", None, (), "f", "", "", language="cpp")
    scala = Problem("t/0", "def f() : Long = {", None, (), "f", "", "", language="scala")
    run = RunSettings("humaneval", {}, parse_methods("b=branch"), Path("."))
    with pytest.raises(UscdError, match="not scala"):
        runner.check_searches(rules, {"derived": [scala]}, EvalSettings(run))
    runner.check_searches(rules, {"derived": [cpp]}, EvalSettings(run))  # completion prompts: framed checks
    chat = GenerationSettings(prompt_style="chat")
    with pytest.raises(UscdError, match="Python tasks only"):
        runner.check_searches(rules, {"derived": [cpp]}, EvalSettings(run, generation=chat))
    for ok in (GenerationSettings(batch=4), chat):  # batched, chat: fine
        runner.check_searches(rules, {}, EvalSettings(run, generation=ok))
    runner.check_searches({"g": Greedy()}, {"derived": [scala]}, EvalSettings(run))  # others untouched


def test_generate_shows_the_search(capsys):
    from uscd.cli.generate import decode, result_json
    from uscd.cli.trace_view import print_search

    rule = BranchSearch(max_branches=2)
    gen = decode(Decoder(Fake()), PROMPT, {}, rule, Sampler(), CONFIG)
    out = result_json(gen, rule, Sampler(), [])
    assert out["search"]["branches_tried"] == 2 and len(out["search"]["branches"]) == 2
    json.dumps(out)  # what --json prints
    print_search(gen.search)
    err = capsys.readouterr().err
    assert "a-kept: 2 checks from the prompt" in err and "dropped: passes 0 of 2" in err


def test_generate_refuses_before_loading_a_model():
    from tests.test_cli_generate import assert_one_line_error, uscd

    assert_one_line_error(uscd("generate", "--demo", "--rule", "branch", "--language", "scala"), "not scala")
    assert_one_line_error(uscd("generate", "--demo", "--rule", "branch", "--branch-steps", "0"), "k must")


def test_the_server_takes_the_branch_method():
    """Served since issue #18's search runs on the serve loop (tests/test_serve_branch.py)."""
    from uscd.serve.method import ServerMethods

    assert ServerMethods("branch").resolve(None).rule.program_search
    assert ServerMethods("greedy").resolve({"rule": "branch", "k": 2}).rule.k == 2


# -- the equal-compute baseline: filter ------------------------------------------------------


def sampled(n: int) -> list[str]:
    judge = judge_by_completion({})
    filter_search.filter_generate(Decoder(Fake()), request(FilterSearch(n=n)), judge=judge)
    return judge.seen


def test_filter_keeps_the_first_sample_that_passes():
    seen = sampled(4)
    assert len(seen) == 4 and len(set(seen)) > 1  # temperature 0.8: different programs
    assert sampled(4) == seen  # the seed comes from the prompt: reproducible
    judge = judge_by_completion({seen[2]: 2, seen[3]: 2})
    gen = filter_search.filter_generate(Decoder(Fake()), request(FilterSearch(n=4)), judge=judge)
    assert gen.completion == seen[2] and judge.seen == seen[:3]
    assert (gen.search["outcome"], gen.search["chosen"], gen.search["programs"]) == ("sample-passed", 2, 3)


def test_filter_without_a_pass_keeps_the_most_passing_ties_to_the_earlier():
    seen = sampled(4)
    judge = judge_by_completion({seen[1]: 1, seen[3]: 1})
    gen = filter_search.filter_generate(Decoder(Fake()), request(FilterSearch(n=4)), judge=judge)
    assert gen.completion == seen[1] and gen.search["outcome"] == "best-sample"
    assert gen.search["executions"] == 4 and gen.search["tokens_decoded"] == sum(
        s["tokens"] for s in gen.search["samples"]
    )


def test_filter_through_the_engine_and_the_grammar():
    (spec,) = parse_methods("f=filter:n=2:temperature=0.6")
    rule = spec.build({})
    assert isinstance(rule, FilterSearch) and (rule.n, rule.temperature) == (2, 0.6)
    ((_, gen),) = list(Engine(Fake()).generate([request(rule)], 1))
    assert gen.search["outcome"] == "best-sample" and gen.search["executions"] == 2
    with pytest.raises(UscdError, match="temperature"):
        FilterSearch(temperature=0.0)


def test_every_row_a_branch_decides_on_equals_a_fresh_prefill():
    """What tests/test_branch_model.py checks on the real model, here exactly."""
    dec = Decoder(Fake())
    base = dec.generate(PROMPT, None, Greedy(), Sampler(), CONFIG)
    rows = []

    def hook(index, view, aux, step, token):
        rows.append((list(dec._scratch.tokens), np.array(view.logits)))

    branch = dec.branch(request(Greedy()), base, 4, 9, hook=hook)
    assert len(rows) == branch.steps - 5 > 0
    for held, row in rows:
        np.testing.assert_array_equal(row, Fake().sequence().extend(held))


def test_the_checks_run_at_the_sandbox_level_the_run_asks_for(monkeypatch):
    from uscd.search import checks

    levels = []

    def spy(solution, found, *, level="auto", per_check_s=3.0):
        levels.append(level)
        return verdict(0)

    monkeypatch.setattr(checks, "run_checks", spy)
    engine = Engine(Fake())
    engine.check_level = "process"
    for rule in (BranchSearch(max_branches=1), FilterSearch(n=2)):
        list(engine.generate([request(rule)], 1))
    assert levels == ["process"] * 4


def test_a_branch_that_cannot_be_decoded_is_dropped_not_the_problem():
    """A context that fills up during one branch loses that branch; the search goes on."""
    backend = Fake(n_ctx=len(Fake().tokenize(PROMPT)) + CONFIG.max_new_tokens)
    dec = Decoder(backend)
    calls = []
    real = dec.branch

    def flaky(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 1:
            raise UscdError("the context is full")
        return real(*args, **kwargs)

    dec.branch = flaky
    gen = search.branch_generate(dec, request(BranchSearch(max_branches=3)), judge=judge_by_completion({}))
    first = gen.search["branches"][0]
    assert first["dropped"] == "not decoded: the context is full" and len(gen.search["branches"]) == 3
    assert gen.search["outcome"] == "a-kept"


def test_filter_n_matches_the_branch_runs_programs():
    assert filter_search.matched_n({"generation": {"search": {"mean_programs": 2.59}}}) == 3
    assert filter_search.matched_n({"generation": {"search": {"mean_programs": 1.2}}}) == 2  # a second try
    assert filter_search.matched_n({"generation": {"search": {"mean_programs": 4.0}}}) == 4
    with pytest.raises(UscdError, match="branch run"):
        filter_search.matched_n({"generation": {}})
