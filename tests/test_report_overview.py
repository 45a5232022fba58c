"""`uscd report`: chat runs apart from completion runs, held-out columns, the overview, the MultiPL-E plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.test_report import ids, make_run

from uscd.report import build_report, render_stdout
from uscd.report.data import HELDOUT_RESULTS
from uscd.runs import CONFIG

pytest.importorskip("matplotlib")


def score_held_out(run: Path, outcomes: dict[str, list[bool]]) -> None:
    """heldout_results.jsonl as `scripts/heldout_eval.py score` writes it."""
    rows = [
        {"task_id": t, "sample_idx": i, "status": "pass" if ok else "fail", "reason": ""}
        for t, passes in outcomes.items()
        for i, ok in enumerate(passes)
    ]
    (run / HELDOUT_RESULTS).write_text("".join(json.dumps(r) + "\n" for r in rows))


def rescored(run: Path, source: Path) -> None:
    """Turn `run` into what `uscd evaluate --samples source/samples.jsonl` writes: the model and the
    prompt are the source run's, recorded under `source_run` (or only in the source's config.json)."""
    config = json.loads((run / CONFIG).read_text())
    source_config = json.loads((source / CONFIG).read_text())
    config.pop("prompt", None)
    config["kind"] = "samples-file"
    config["source_run"] = {"model": config.pop("model"), "method": config["method"]}
    config["samples_file"] = {"path": str(source / "samples.jsonl"), "sha256": "c" * 64}
    assert source_config["prompt"]["style"] == "chat"
    (run / CONFIG).write_text(json.dumps(config))


# ---------------------------------------------------------------------------------------------
# chat-mode runs are a group of their own


def test_chat_and_completion_runs_of_one_task_and_model_are_never_paired(tmp_path):
    make_run(tmp_path / "completion", "greedy", ids([True, False, False, False]))
    make_run(tmp_path / "completion", "uscd", ids([True, True, False, False]))
    make_run(tmp_path / "chat", "greedy", ids([True, True, True, False]), prompt_style="chat")
    make_run(tmp_path / "chat", "uscd", ids([True, True, True, True]), prompt_style="chat")
    make_run(tmp_path / "chat-only", "cd", ids([True] * 4), prompt_style="chat")
    data = build_report([tmp_path / "completion", tmp_path / "chat"]).data
    assert [(g["id"], g["task"], g["prompt_style"]) for g in data["groups"]] == [
        ("humaneval_tiny", "humaneval", "completion"),
        ("humaneval-chat_tiny", "humaneval", "chat"),
    ]
    completion, chat = data["groups"]
    assert [r["name"] for r in chat["runs"]] == ["greedy", "uscd"]  # no "(chat)" suffix: one greedy each
    assert [c["baseline_pass@1"] for c in (completion["comparisons"][0], chat["comparisons"][0])] == [
        0.25,
        0.75,
    ]
    md = render_stdout(build_report([tmp_path / "completion", tmp_path / "chat"]), "md")
    assert "\n## humaneval · tiny\n" in md and "\n## humaneval (chat) · tiny\n" in md
    # a chat run with only a completion-prompt greedy beside it has no baseline
    alone = build_report([tmp_path / "completion", tmp_path / "chat-only"]).data
    chat_group = next(g for g in alone["groups"] if g["prompt_style"] == "chat")
    assert chat_group["comparisons"] == [
        {
            "method": "cd",
            "baseline": None,
            "paired": False,
            "reason": "no baseline run in this task/model group",
        }
    ]


def test_a_rescored_run_takes_its_source_runs_model_and_prompt_style(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the samples file's path is recorded as given, here relative
    source = make_run(Path("gen"), "greedy", ids([True, False]), prompt_style="chat")
    make_run(Path("plus"), "greedy", ids([True, True]))
    rescored(Path("plus/greedy"), source)
    make_run(Path("plus-completion"), "greedy", ids([False, False]))
    (chat, completion) = sorted(
        build_report([Path("plus"), Path("plus-completion")]).data["groups"], key=lambda g: g["prompt_style"]
    )
    assert (chat["prompt_style"], chat["model"], chat["model_sha256"]) == ("chat", "tiny", "b" * 64)
    assert completion["prompt_style"] == "completion" and len(chat["runs"]) == len(completion["runs"]) == 1


# ---------------------------------------------------------------------------------------------
# held-out tests: a column next to the full one, and a paired test in the Holm family


def test_held_out_scores_get_a_column_and_a_corrected_paired_test(tmp_path):
    from uscd.run.heldout import RESULTS, paired

    assert HELDOUT_RESULTS == RESULTS
    greedy = make_run(tmp_path, "greedy", ids([True, False, False, False, False, False]))
    uscd = make_run(tmp_path, "uscd", ids([True, True, True, True, True, True]))
    score_held_out(greedy, ids([True, False, False, False, False]))  # one problem has no held-out test
    score_held_out(uscd, ids([False, True, True, True, True]))
    report = build_report([tmp_path])
    (group,) = report.data["groups"]
    runs = {r["name"]: r for r in group["runs"]}
    assert runs["greedy"]["heldout"] | {"pass@1_ci95": None} == {
        "problems": 5,
        "passed": 1,
        "pass@1": 0.2,
        "pass@1_ci95": None,
    }
    (comp,) = group["comparisons"]
    held = comp["heldout"]
    assert held["fail_to_pass"] == [f"HumanEval/{i}" for i in range(1, 5)]
    assert held["pass_to_fail"] == ["HumanEval/0"] and held["problems_paired"] == 5
    # by hand: main b=6-1=5, c=0: p = 2/32; held-out b=4, c=1: p = 2 * 6/32
    assert (comp["p_value"], held["p_value"]) == (0.0625, 0.375)
    assert held["p_value"] == round(paired(greedy, uscd)["p_value"], 6)  # what the held-out script says
    assert report.data["holm"] == {"alpha": 0.05, "tests": 2, "base_plus_tests": 0, "heldout_tests": 1}
    assert (comp["p_holm"], held["p_holm"]) == (0.125, 0.375)
    md = render_stdout(report, "md")
    assert "| held-out pass@1 (95% CI) |" in md and "#### Versus greedy, held-out tests" in md
    assert "(the 1 held-out test included)" in md
