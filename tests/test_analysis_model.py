"""The premise study on the real default model: the single-flip oracle on the first 2 failing
problems of the committed 0.5B HumanEval greedy run (decoded at --batch 1, so A must reproduce),
on one stream and on a batched serve loop.
Slow (about 2 × (1 + 20 flips) decodes); runs under the model lock the fixture takes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from uscd.analysis import study
from uscd.analysis.oracle import OracleSettings, sandbox_judge
from uscd.runs import RunFolder, read_jsonl

pytestmark = [pytest.mark.model, pytest.mark.slow]

RESULTS = Path(__file__).resolve().parents[1] / "results" / "qwen2.5-coder-0.5b" / "humaneval"
GREEDY = RESULTS / "greedy"
BRANCH = RESULTS / "branch"


def copy_of_run(tmp_path: Path) -> Path:
    """The committed run's config, samples and results (the study never writes into results/)."""
    out = tmp_path / "greedy"
    out.mkdir()
    for name in ("config.json", "samples.jsonl", "results.jsonl"):
        shutil.copy(GREEDY / name, out / name)
    return out


def branch_points(task_id: str) -> set[tuple[int, int]]:
    """(step, token) of every branch the committed branch run (k 3, m 2) tried on this problem."""
    for trace in read_jsonl(BRANCH / "traces.jsonl"):
        if trace["task_id"] == task_id:
            return {(b["step"], b["token"]) for b in trace.get("search", {}).get("branches", [])}
    return set()


def test_the_oracle_on_two_committed_humaneval_failures(model_path, tmp_path):
    from uscd.cli.analyze import open_run_decoder
    from uscd.run.folder import task_of_run

    run_dir = copy_of_run(tmp_path)
    config = json.loads((run_dir / "config.json").read_text())
    decoder, model = open_run_decoder(config, str(model_path), None)
    settings = OracleSettings(max_new_tokens=config["generation"]["max_new_tokens"])
    judge = sandbox_judge(config["sandbox_limits"]["timeout_s"], "auto")
    summary = study.run_study(run_dir, decoder, task_of_run(config), settings, judge, model=model, limit=2)
    lines = list(read_jsonl(run_dir / "premise" / "oracle.jsonl"))
    assert len(lines) == 2 and summary["counts"]["problems"] == 2
    for line in lines:
        assert line["status"] == "analysed", line["reason"]  # --batch 1: the re-decode is the committed A
        assert line["reproduced"] and line["a_passed"] is False
        assert len(line["steps"]["token"]) == line["a_tokens"]
        assert 0 < len(line["flips"]) <= settings.k * settings.m
        ranks = [f["rank"] for f in line["flips"]]
        assert ranks == sorted(ranks) and max(ranks) <= settings.k
        # the branch method branched at the same points (its k 3, m 2 are a prefix of ours)
        ours = {(f["step"], f["token"]) for f in line["flips"] if f["rank"] <= 3 and f["alt"] <= 1}
        assert branch_points(line["task_id"]) <= ours
    assert study.write_summary(run_dir) == summary


def test_the_batched_oracle_on_the_real_model(model_path, tmp_path):
    """`--batch 2`: both problems' oracles on one llama.cpp serve loop (A reads the lame prompt on
    every step through the batch's lane, flips are continuation tickets); near ties may round
    differently from one stream's, so a re-decoded A is accepted."""
    from uscd.cli.analyze import open_run_decoder
    from uscd.run.folder import task_of_run

    run_dir = copy_of_run(tmp_path)
    config = json.loads((run_dir / "config.json").read_text())
    decoder, model = open_run_decoder(config, str(model_path), None)
    settings = OracleSettings(max_new_tokens=config["generation"]["max_new_tokens"], accept_redecoded=True)
    judge = sandbox_judge(config["sandbox_limits"]["timeout_s"], "auto")
    task = task_of_run(config)
    summary = study.run_study(run_dir, decoder, task, settings, judge, model=model, limit=2, batch=2)
    lines = list(read_jsonl(run_dir / "premise" / "oracle.jsonl"))
    assert sorted(x["task_id"] for x in lines) == sorted(
        s["task_id"] for s in study.failing_samples(RunFolder(run_dir))[:2]
    )
    assert summary["counts"]["problems"] == 2
    for line in lines:
        assert line["status"] in ("analysed", "a-passes"), line["reason"]
        assert len(line["steps"]["token"]) == len(line["steps"]["js"]) == line["a_tokens"]
        if line["status"] == "analysed":
            assert 0 < len(line["flips"]) <= settings.k * settings.m
            assert all(f["finish_reason"] != "error" and f["tokens"] > 0 for f in line["flips"])
    decoder.backend.close()
