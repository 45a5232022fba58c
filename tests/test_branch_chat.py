"""The branch method (and its filter baseline) in chat mode: the search reads its checks from the
task text inside the user message and runs them on the code taken from the reply — the program the
tests will run — through the same engine paths as completion prompts."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from tests.test_branch_search import Fake
from tests.test_chat_runner import CHATML

from uscd.engine import Decoder, GenerationConfig, Request
from uscd.methods import BranchSearch, Greedy, Sampler
from uscd.prompts.chat import ChatFormat
from uscd.prompts.examples import extract_checks
from uscd.run.generate import requests_for
from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings
from uscd.runner import parse_methods
from uscd.search import branch as search
from uscd.search.checks import CheckRun, run_checks
from uscd.search.subject import chat_subject, problem_subject, subject_of
from uscd.tasks import get_task


@pytest.fixture(scope="module")
def he0():
    return get_task("humaneval").problem("HumanEval/0")


def test_a_chat_problem_keeps_its_task_text_for_the_search(he0):
    chat = ChatFormat(CHATML).problem(he0)
    subject = problem_subject(chat)
    assert subject.examples_from == he0.prompt and "<|im_start|>" in chat.prompt
    assert len(extract_checks(subject.examples_from).checks) == 2
    reply = "    return any(abs(a - b) < threshold for a in numbers for b in numbers if a is not b)\n```"
    assert subject.solution(reply) == chat.code(reply) != chat.prompt + reply
    completion = problem_subject(he0)  # a completion problem: prompt + completion, as before
    assert completion.examples_from == he0.prompt and completion.solution("x") == he0.prompt + "x"


def test_only_a_searching_methods_requests_carry_a_subject(he0, tmp_path):
    chat = ChatFormat(CHATML).problem(he0)
    settings = EvalSettings(RunSettings("humaneval", {}, parse_methods("branch"), tmp_path))
    (req,), _ = requests_for(SimpleNamespace(rule=BranchSearch()), [(chat, 0)], settings)
    assert req.subject.examples_from == he0.prompt and req.prompt == chat.prompt
    (plain,), _ = requests_for(SimpleNamespace(rule=Greedy()), [(chat, 0)], settings)
    assert plain.subject is None and subject_of(plain).examples_from == chat.prompt


def test_the_search_judges_the_replys_code_with_the_task_texts_checks(he0):
    chat = ChatFormat(CHATML).problem(he0)
    seen = []

    def judge(solution, checks):
        seen.append((solution, len(checks)))
        return CheckRun((False, False), ("wrong", "wrong"), "pass", "", 0.0)

    config = GenerationConfig(max_new_tokens=12, stop=chat.stop)
    req = Request(
        chat.prompt, None, BranchSearch(max_branches=2), Sampler(), config, subject=problem_subject(chat)
    )
    gen = search.branch_generate(Decoder(Fake()), req, judge=judge)
    assert gen.search["checks"] == 2 and gen.search["branches_tried"] == 2 and len(seen) == 3
    assert seen[0] == (chat.code(gen.search["a_completion"]), 2)
    assert all(n == 2 for _, n in seen)


class ChatFake(Fake):
    def chat_template(self):
        return CHATML


def test_eval_runs_the_branch_method_in_chat_mode(tmp_path, monkeypatch):
    """`uscd eval --prompt-style chat --methods branch` end to end on the fake model, the checks in
    the real sandbox (the fake writes letters: every program fails its checks, A is kept)."""
    from tests.test_runner import Recorder

    from uscd import engine, models, runner
    from uscd.runs import read_jsonl

    monkeypatch.setattr(engine, "open_engine", lambda *a, **k: engine.Engine(ChatFake()))
    monkeypatch.setattr(models, "describe", lambda path: {"name": "fake", "sha256": "0" * 64})
    settings = EvalSettings(
        RunSettings("humaneval", {}, parse_methods("b=branch:max_branches=1"), tmp_path, limit=2),
        generation=GenerationSettings(max_new_tokens=8, prompt_style="chat"),
    )
    (summary,) = runner.run_eval(settings, progress=Recorder())
    samples = list(read_jsonl(tmp_path / "b" / "samples.jsonl"))
    task = get_task("humaneval")
    for sample in samples:  # the checks of the task text, not of the chat around it
        expected = len(extract_checks(task.problem(sample["task_id"]).prompt).checks)
        assert sample["stats"]["search"]["checks"] == expected > 0
        assert sample["stats"]["search"]["executions"] == 2
    assert all("solution" in s for s in samples)
    assert json.loads((tmp_path / "b" / "config.json").read_text())["prompt"]["style"] == "chat"
    assert summary["generation"]["search"]["problems"] == 2


SERVED_TASK = (
    'Complete this function.\n```python\ndef add(a, b):\n    """Add two numbers.\n'
    '    >>> add(1, 2)\n    3\n    >>> add(-1, 1)\n    0\n    """\n```\n'
)


def test_a_served_chats_subject_is_its_message_and_the_replys_code():
    """`uscd serve`'s chat endpoint: checks from the last user message, run on the reply's code
    (the block that defines the message's function; prose and other blocks left out)."""
    subject = chat_subject(SERVED_TASK)
    checks = extract_checks(subject.examples_from).checks
    assert len(checks) == 2
    right = "Here:\n```python\nprint('usage')\n```\n```python\ndef add(a, b):\n    return a + b\n```\nDone."
    half = "```python\ndef add(a, b):\n    return a + b if a > 0 else 1\n```"
    assert subject.solution(right).strip() == "def add(a, b):\n    return a + b"
    assert run_checks(subject.solution(right), checks).passed == (True, True)
    assert run_checks(subject.solution(half), checks).passed == (True, False)
    assert not any(run_checks(subject.solution("no code at all"), checks).passed)
