"""`uscd analyze program-a`: a branch run's program A becomes a run folder of its own, executed in
the sandbox through the path `uscd evaluate` takes, and the search is paired with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uscd.analysis.program_a import paired_with_a, program_a_dir
from uscd.cli import main
from uscd.run.evaluate import Sandbox
from uscd.run.folder import evaluate_run
from uscd.runs import RunFolder
from uscd.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
HUMANEVAL = ROOT.parent / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
WRONG = "    return None\n"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def branch_run(tmp_path: Path, with_search: bool = True) -> Path:
    """Three HumanEval problems: the search fixed the first (A wrong), kept A on the second, and
    broke the third (A right, the kept branch wrong)."""
    if not HUMANEVAL.exists():
        pytest.skip(f"{HUMANEVAL} is not available")
    task = get_task("humaneval", data=str(HUMANEVAL))
    problems = task.problems(3)
    cfg = task.config()
    config = {
        "task": {k: v for k, v in cfg.items() if k != "dataset_path"},
        "dataset_location": cfg.get("dataset_path"),
        "method": {"label": "branch", "rule": "branch", "knobs": {}},
        "sandbox_limits": {"timeout_s": 10.0},
    }
    right = [p.reference for p in problems]
    finals, a_programs = [right[0], right[1], WRONG], [WRONG, right[1], right[2]]
    run_dir = tmp_path / "branch"
    folder = RunFolder(run_dir)
    folder.open(config)
    samples = [
        {"task_id": p.task_id, "sample_idx": 0, "completion": c, "solution": p.solution(c), "stats": {}}
        for p, c in zip(problems, finals, strict=True)
    ]
    traces = [
        {"task_id": p.task_id, "sample_idx": 0, **({"search": {"a_completion": a}} if with_search else {})}
        for p, a in zip(problems, a_programs, strict=True)
    ]
    write_jsonl(run_dir / "samples.jsonl", samples)
    write_jsonl(run_dir / "traces.jsonl", traces)
    evaluate_run(folder, Sandbox(timeout_s=10.0, level="auto", workers=1))
    return run_dir


def test_program_a_is_scored_and_paired_with_the_search(tmp_path, capsys):
    run_dir = branch_run(tmp_path)
    assert main(["analyze", "program-a", str(run_dir), "--workers", "1"]) == 0
    a_folder = RunFolder(program_a_dir(run_dir))
    statuses = [r["status"] for r in sorted(a_folder.results(), key=lambda r: r["task_id"])]
    assert statuses == ["fail", "pass", "pass"]
    config = a_folder.read_config()
    assert config["method"]["label"] == "branch-program-a"
    assert config["derived"]["from"] == str(run_dir)
    kept = {s["task_id"]: s["kept_by_search"] for s in a_folder.samples()}
    assert kept == {"HumanEval/0": False, "HumanEval/1": True, "HumanEval/2": False}
    p = paired_with_a(run_dir)
    assert (p["fixed"], p["broken"], p["a_passed"], p["search_passed"]) == (1, 1, 2, 2)
    assert "fixed 1, broken 1" in capsys.readouterr().out


def test_program_a_resumes_without_duplicating(tmp_path):
    run_dir = branch_run(tmp_path)
    for _ in range(2):
        assert main(["analyze", "program-a", str(run_dir), "--workers", "1"]) == 0
    a_folder = RunFolder(program_a_dir(run_dir))
    assert len(a_folder.samples()) == 3 and len(a_folder.results()) == 3


def test_a_run_without_a_search_is_refused_in_one_line(tmp_path, capsys):
    run_dir = branch_run(tmp_path, with_search=False)
    assert main(["analyze", "program-a", str(run_dir)]) != 0
    err = capsys.readouterr().err.strip()
    assert "not a program search run" in err and "\n" not in err
    assert not program_a_dir(run_dir).exists()


def test_a_folder_that_is_no_run_is_refused(tmp_path, capsys):
    assert main(["analyze", "program-a", str(tmp_path / "nothing")]) != 0
    assert "is not a folder" in capsys.readouterr().err
