"""Program searches at `--batch N` (uscd.search.batched): every request's search runs on one batched
serve loop, and on the fake model (whose rows do not depend on the batch) each search records
exactly what the single-stream search records — the same programs, branches, checks and choice."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tests.test_batched import EOS, FakeBackend

from uscd.engine import Engine, GenerationConfig, Request
from uscd.errors import UscdError
from uscd.methods import BranchSearch, FilterSearch, Sampler
from uscd.search import checks as check_module
from uscd.search.checks import CheckRun

CONFIG = GenerationConfig(max_new_tokens=24, stop=("qq",))


class Fake(FakeBackend):
    def logits(self, tokens) -> np.ndarray:
        row = super().logits(tokens).copy()
        row[EOS] -= 100.0  # keep programs long enough to branch in
        return row


def prompt(i: int) -> str:
    examples = f"    >>> f{i}(1)\n    3\n    >>> f{i}({i})\n    {3 * i}\n"
    return f"def f{i}(x):\n    '''Triple it.\n{examples}    '''\n"


def requests(rule, n: int = 6) -> list[Request]:
    return [Request(prompt(i), None, rule, Sampler(), CONFIG) for i in range(n)]


def scripted_judge(solution: str, checks, level: str = "auto") -> CheckRun:
    """A stand-in for the sandbox: how many checks pass depends on the program's text only."""
    score = sum(map(ord, solution)) % 3  # 0, 1 or 2 of the 2 checks
    passed = tuple(i < score for i in range(len(checks)))
    return CheckRun(passed, tuple("" if ok else "wrong" for ok in passed), "pass", "", 0.0)


@pytest.fixture
def no_sandbox(monkeypatch):
    monkeypatch.setattr(check_module, "run_checks", scripted_judge)


def without_clock(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "search_s"}


def by_index(results) -> dict:
    return dict(results)


@pytest.mark.parametrize("rule", [BranchSearch(max_branches=4), FilterSearch(n=3)], ids=["branch", "filter"])
@pytest.mark.usefixtures("no_sandbox")
def test_batched_searches_record_what_single_stream_searches_record(rule):
    single = by_index(Engine(Fake()).generate(requests(rule), batch=1))
    batched = by_index(Engine(Fake()).generate(requests(rule), batch=3))
    assert sorted(batched) == list(range(6))
    for i, gen in single.items():
        assert not isinstance(gen, UscdError)
        assert batched[i].completion == gen.completion and batched[i].tokens == gen.tokens
        assert without_clock(batched[i].search) == without_clock(gen.search)
    outcomes = {g.search["outcome"] for g in single.values()}
    assert len(outcomes) > 1  # the scripted judge makes the searches take different paths


@pytest.mark.usefixtures("no_sandbox")
def test_a_request_that_fails_on_its_own_fails_alone():
    backend = Fake(n_ctx=160)
    reqs = requests(BranchSearch(max_branches=2), n=3)
    reqs[1] = Request("y" * 400 + prompt(1), None, reqs[1].rule, Sampler(), CONFIG)
    results = by_index(Engine(backend).generate(reqs, batch=2))
    assert isinstance(results[1], UscdError) and "context" in str(results[1])
    assert all(not isinstance(results[i], UscdError) for i in (0, 2))


@pytest.mark.usefixtures("no_sandbox")
def test_stopping_early_stops_the_loop_and_every_search():
    before = set(threading.enumerate())
    results = Engine(Fake()).generate(requests(BranchSearch(max_branches=4), n=8), batch=2)
    _, first = next(results)
    assert not isinstance(first, UscdError)
    results.close()  # what a KeyboardInterrupt in the caller does to the generator
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == []


def test_a_batch_cannot_mix_searches_with_plain_requests():
    from uscd.methods import Greedy

    mixed = [*requests(BranchSearch(), n=1), Request(prompt(1), None, Greedy(), Sampler(), CONFIG)]
    with pytest.raises(UscdError, match="cannot mix"):
        list(Engine(Fake()).generate(mixed, batch=2))


def test_eval_at_batch_2_runs_the_searches_with_the_real_sandbox(tmp_path, monkeypatch):
    """`uscd eval --methods branch --batch 2` end to end on the fake model: every problem written once,
    each with its search record, the prompt's checks judged in the sandbox from worker threads."""
    from tests.test_runner import Recorder

    from uscd import engine, models, runner
    from uscd.methods.spec import parse_methods
    from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings
    from uscd.runs import read_jsonl

    monkeypatch.setattr(engine, "open_engine", lambda *a, **k: engine.Engine(Fake()))
    monkeypatch.setattr(models, "describe", lambda path: {"name": "fake", "sha256": "0" * 64})
    settings = EvalSettings(
        RunSettings("humaneval", {}, parse_methods("b=branch:max_branches=2"), tmp_path, limit=3),
        generation=GenerationSettings(max_new_tokens=8, batch=2),
    )
    (summary,) = runner.run_eval(settings, progress=Recorder())
    samples = list(read_jsonl(tmp_path / "b" / "samples.jsonl"))
    assert sorted(s["task_id"] for s in samples) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    searches = [s["stats"]["search"] for s in samples]
    assert all(s["a_checks"] is not None and s["a_checks"]["status"] == "pass" for s in searches)
    assert summary["generation"]["search"]["problems"] == 3 and summary["samples_executed"] == 3
