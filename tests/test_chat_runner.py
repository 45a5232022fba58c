"""Chat mode in the harness, without a model: configs (and the hashes of completion runs), problems
whose program is built from the reply's code, sample records, `uscd evaluate` on a chat run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from uscd.errors import UscdError
from uscd.methods import make_rule
from uscd.prompts.chat import ChatFormat, ChatMarkup, reply_prefix
from uscd.run.evaluate import Sandbox
from uscd.run.folder import evaluate_run
from uscd.run.records import sample_record
from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings, run_config
from uscd.runner import parse_methods
from uscd.runs import SAMPLES, RunFolder, config_hash, identity
from uscd.tasks import get_task

RESULTS = Path(__file__).resolve().parents[1] / "results"
# ChatML as Qwen2.5 writes it, cut down to what these tests need (the real templates: test_chat_template)
CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def humaneval():
    return get_task("humaneval")


def settings(tmp_path: Path, style: str = "completion") -> EvalSettings:
    run = RunSettings("humaneval", {}, parse_methods("greedy"), tmp_path)
    return EvalSettings(run, generation=GenerationSettings(prompt_style=style))


def test_completion_configs_keep_their_keys_and_hashes(tmp_path):
    committed = sorted(RESULTS.glob("*/*/*/config.json"))
    if not committed:
        pytest.skip("no committed run folders")
    for path in committed:
        config = json.loads(path.read_text())
        assert config_hash(config) == config["config_hash"], path
    committed = [p for p in committed if json.loads(p.read_text()).get("kind") != "samples-file"]
    (spec,) = parse_methods("greedy")
    task = SimpleNamespace(config=lambda: {"name": "humaneval"})
    built = run_config(settings(tmp_path), task, spec, make_rule("greedy"), {}, {})
    completion_runs = [
        json.loads(p.read_text()) for p in committed if not p.parent.parent.name.endswith("-chat")
    ]
    assert all("prompt" not in c for c in completion_runs)
    # the same identity keys as the committed runs made by this code (older ones predate "batch")
    assert any(set(identity(built)) == set(identity(c)) for c in completion_runs)
    chat = run_config(
        settings(tmp_path, "chat"), task, spec, make_rule("greedy"), {}, {}, prompt={"style": "chat"}
    )
    assert chat["prompt"] == {"style": "chat"} and config_hash(chat) != config_hash(built)


def test_an_unknown_prompt_style_is_refused(tmp_path):
    with pytest.raises(UscdError, match="prompt style"):
        settings(tmp_path, "poem").validate()


def test_a_chat_problem_is_built_from_the_reply(humaneval):
    problem = humaneval.problem("HumanEval/0")
    chat = ChatFormat(CHATML).problem(problem)
    assert chat.is_chat and not problem.is_chat
    assert chat.prompt.startswith("<|im_start|>user\nPlease provide a self-contained Python script")
    assert "\n```\n" + problem.prompt.strip() + "\n```\n" in chat.prompt
    assert chat.prompt.endswith("<|im_start|>assistant\n" + chat.reply_prefix)
    assert ">>>" in chat.prompt and ">>>" not in chat.lame_prompt  # the examples go, nothing else
    assert chat.lame_prompt == ChatFormat(CHATML).conversation(problem.lame_prompt)
    completion = problem.prompt + problem.reference + "\n\nprint(has_close_elements([1.0], 0.5))"
    program = chat.program(completion)
    assert program.startswith("from typing import List\ndef has_close_elements(")
    assert "print(" not in program and program.endswith("check(has_close_elements)\n")
    assert chat.stop[0] == "\n```" and problem.program(problem.reference).startswith(problem.prompt)


def test_chat_sample_records_keep_the_reply_and_the_code(humaneval):
    chat = ChatFormat(CHATML).problem(humaneval.problem("HumanEval/2"))
    gen = SimpleNamespace(completion="def truncate_number(x):\n    return x % 1.0\n", finish_reason="stop")
    gen.stats = dict
    record = sample_record(chat, 0, None, gen)
    assert record["reply"] == reply_prefix("python") + gen.completion
    assert record["solution"] == "def truncate_number(x):\n    return x % 1.0"
    assert record["completion"] == gen.completion


def test_chat_markup_tokenises_special_text_and_delegates_the_rest():
    backend = SimpleNamespace(tokenize=lambda t: ["plain"], tokenize_special=lambda t: ["special"], n_ctx=7)
    wrapped = ChatMarkup(backend)
    assert wrapped.tokenize("<|im_start|>") == ["special"] and wrapped.n_ctx == 7


def test_evaluate_a_saved_chat_run(humaneval, tmp_path):
    """`uscd evaluate` rebuilds chat programs from the config alone (no model, no template)."""
    (spec,) = parse_methods("greedy")
    info = {"sha256": "x", "name": "m"}
    config = run_config(
        settings(tmp_path, "chat"), humaneval, spec, make_rule("greedy"), info, {}, 1, {"style": "chat"}
    )
    folder = RunFolder(tmp_path / "greedy")
    folder.open(config)
    right = humaneval.problem("HumanEval/0")
    wrong = humaneval.problem("HumanEval/4")
    replies = {
        right.task_id: right.prompt + right.reference + '\nif __name__ == "__main__":\n    print(1)\n',
        wrong.task_id: "I cannot solve this.",
    }
    for task_id, completion in replies.items():
        solution = ChatFormat(CHATML).problem(humaneval.problem(task_id)).code(completion)
        record = {"task_id": task_id, "sample_idx": 0, "completion": completion, "solution": solution}
        folder.append(SAMPLES, record)
    folder.close()
    summary = evaluate_run(folder, Sandbox())
    results = {r["task_id"]: r["status"] for r in folder.results()}
    assert results == {right.task_id: "pass", wrong.task_id: "fail"}
    assert summary["failures"]["no code found"] == 1 and summary["passed"] == 1


def test_multipl_e_in_chat_mode_uses_the_languages_name_and_fence():
    try:
        task = get_task("multipl-e-js")
        problem = task.problems(1)[0]
    except UscdError as exc:
        pytest.skip(f"MultiPL-E data not available: {exc}")
    chat = ChatFormat(CHATML).problem(problem)
    assert "Please provide a self-contained JavaScript script" in chat.prompt
    assert chat.prompt.endswith("```javascript\n") and chat.stop == ("\n```",)
    reply = "function has_close_elements(numbers, threshold){\n  return false;\n}\n```\nThis works."
    program = chat.program(reply)
    assert program.startswith("function has_close_elements(numbers, threshold){\n  return false;\n}")
    assert "This works" not in program and program.endswith(problem.program_tail)
