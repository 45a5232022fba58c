"""`uscd evaluate`: another tool's samples file (both styles, bad rows, input order, resume), run folders."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from uscd.errors import UscdError
from uscd.run.evaluate import Sandbox
from uscd.run.external import evaluate_samples_file
from uscd.run.folder import evaluate_run
from uscd.run.samples_file import read_samples
from uscd.runs import RunFolder, read_jsonl
from uscd.tasks import get_task

TEST = "def check(candidate):\n    assert candidate(2) == {out}\n"


def write_humaneval(path: Path) -> str:
    """Three tiny HumanEval-format problems: add one, double, square."""
    bodies = {"inc": "x + 1", "dbl": "2 * x", "sq": "x * x"}
    with gzip.open(path, "wt") as fh:
        for i, (name, body) in enumerate(bodies.items()):
            out = eval(body, {"x": 2})
            rec = {
                "task_id": f"HumanEval/{i}",
                "prompt": f"def {name}(x):\n",
                "entry_point": name,
                "canonical_solution": f"    return {body}\n",
                "test": TEST.format(out=out),
            }
            fh.write(json.dumps(rec) + "\n")
    return str(path)


@pytest.fixture
def task(tmp_path):
    return get_task("humaneval", data=write_humaneval(tmp_path / "he.jsonl.gz"))


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


SLOW_RIGHT = "    import time\n    time.sleep(1.5)\n    return x + 1\n"
ROWS = [
    {"task_id": "HumanEval/0", "completion": SLOW_RIGHT, "extra": "ignored"},  # finishes last
    {"name": "HumanEval/1", "completion": ["    return 2 * x\n", "    return x\n"]},
    {"task_id": "HumanEval/2", "solution": "def sq(x):\n    return x ** 2\n"},
    {"task_id": "2", "completions": ["    return x + x\n"]},  # a shorthand id; x + x == x * x at 2
]


def test_both_styles_are_scored_and_rows_keep_the_input_order(task, tmp_path):
    samples = write_lines(tmp_path / "s.jsonl", ROWS)
    summary = evaluate_samples_file(task, samples, tmp_path / "out", Sandbox(workers=3))
    rows = list(read_jsonl(tmp_path / "out" / "results.jsonl"))
    assert [(r["line"], r["item"]) for r in rows] == [(1, 0), (2, 0), (2, 1), (3, 0), (4, 0)]
    assert [r["task_id"] for r in rows] == [
        "HumanEval/0",
        "HumanEval/1",
        "HumanEval/1",
        "HumanEval/2",
        "HumanEval/2",
    ]
    assert [r["passed"] for r in rows] == [True, True, False, True, True]
    assert [r["sample_idx"] for r in rows] == [0, 0, 1, 0, 1]
    assert rows[3]["scored"] == "solution" and rows[3]["completion"] == "    return x ** 2\n"
    assert all(r["status"] in ("pass", "fail") and "extra" not in r for r in rows)
    assert summary["samples_executed"] == 5 and summary["passed"] == 4
    assert summary["pass@1"] == pytest.approx((1 + 0.5 + 1) / 3, abs=1e-6)
    assert summary["input"]["rows_skipped"] == []


def test_bad_rows_are_reported_with_their_line_and_skipped(task, tmp_path):
    samples = write_lines(
        tmp_path / "s.jsonl",
        [
            {"task_id": "HumanEval/0", "completion": "    return x + 1\n"},
            {"task_id": "HumanEval/99", "completion": "x"},
            {"task_id": "HumanEval/1"},
            "{not json",
            '["a list"]',
            {"completion": "    return 1\n"},
            {"task_id": "HumanEval/2", "completion": []},
            "",
            {"task_id": "HumanEval/2", "completion": "    return x * x\n"},
        ],
    )
    good, bad = read_samples(samples, task)
    assert [s.line for s in good] == [1, 9]
    assert [(b.line, b.reason.split(" ")[0]) for b in bad] == [
        (2, "unknown"),
        (3, "no"),
        (4, "not"),
        (5, "a"),
        (6, "no"),
        (7, "no"),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "uscd", "evaluate", "--task", "humaneval", "--data", task.data, "--samples",
         str(samples), "--out", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "line 2: unknown task id 'HumanEval/99'" in proc.stderr and "line 7" in proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [s["line"] for s in summary["input"]["rows_skipped"]] == [2, 3, 4, 5, 6, 7]
    assert summary["samples_executed"] == 2 and summary["passed"] == 2


def test_evaluate_resumes_after_a_kill_and_refuses_another_file(task, tmp_path):
    samples = write_lines(tmp_path / "s.jsonl", ROWS[1:])
    out = tmp_path / "out"
    evaluate_samples_file(task, samples, out, Sandbox(workers=2))
    complete = (out / "results.jsonl").read_text().splitlines(keepends=True)
    # what kill -9 leaves: two rows written, the third torn
    (out / "results.jsonl").write_text("".join(complete[:2]) + complete[2][:25])
    evaluate_samples_file(task, samples, out, Sandbox(workers=2))
    again = (out / "results.jsonl").read_text().splitlines(keepends=True)
    assert again[:2] == complete[:2]
    strip = [{k: v for k, v in json.loads(x).items() if k != "duration_s"} for x in again]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "duration_s"} for x in complete]
    other = write_lines(tmp_path / "other.jsonl", ROWS[:1])
    with pytest.raises(UscdError, match="different settings"):
        evaluate_samples_file(task, other, out, Sandbox())


def test_a_file_with_nothing_to_score_is_an_error(task, tmp_path):
    samples = write_lines(tmp_path / "s.jsonl", [{"task_id": "nope", "completion": "x"}])
    with pytest.raises(UscdError, match="no sample that can be scored"):
        evaluate_samples_file(task, samples, tmp_path / "out", Sandbox())
    with pytest.raises(UscdError, match="does not exist"):
        evaluate_samples_file(task, tmp_path / "missing.jsonl", tmp_path / "out", Sandbox())


def test_plus_tasks_get_base_and_plus_columns(tmp_path):
    from tests.test_plus import plus_record, write_plus_data

    data = write_plus_data(tmp_path / "he.jsonl.gz", [plus_record()])
    samples = write_lines(
        tmp_path / "s.jsonl",
        [
            {"task_id": "HumanEval/0", "completion": "    return x + x\n"},
            {"task_id": "HumanEval/0", "completion": "    return 2 * abs(x)\n"},
        ],
    )
    summary = evaluate_samples_file(
        get_task("humanevalplus", data=data), samples, tmp_path / "out", Sandbox()
    )
    rows = list(read_jsonl(tmp_path / "out" / "results.jsonl"))
    assert [(r["base_passed"], r["plus_passed"], r["passed"]) for r in rows] == [
        (True, True, True),
        (True, False, False),
    ]
    assert summary["pass@1_base"] == 1.0 and summary["pass@1_plus"] == 0.5 == summary["pass@1"]
    assert summary["suites"]["plus"]["passed"] == 1 and summary["task"] == "humanevalplus"


def test_a_run_folder_is_evaluated_by_the_same_stage(task, tmp_path):
    folder = RunFolder(tmp_path / "run")
    task_cfg = task.config()
    config = {
        "task": {k: v for k, v in task_cfg.items() if k != "dataset_path"},
        "dataset_location": task_cfg["dataset_path"],
        "method": {"label": "greedy", "rule": "greedy"},
        "sandbox_limits": {"timeout_s": 10.0},
    }
    folder.open(config)
    for i, completion in enumerate(["    return x + 1\n", "    return x\n"]):
        folder.append(
            "samples.jsonl", {"task_id": f"HumanEval/{i}", "sample_idx": 0, "completion": completion}
        )
    folder.close()
    summary = evaluate_run(RunFolder(tmp_path / "run"), Sandbox())
    results = list(read_jsonl(tmp_path / "run" / "results.jsonl"))
    assert sorted((r["task_id"], r["status"]) for r in results) == [
        ("HumanEval/0", "pass"),
        ("HumanEval/1", "fail"),
    ]
    assert summary["pass@1"] == 0.5 and summary["method"] == "greedy"
    assert evaluate_run(RunFolder(tmp_path / "run"), Sandbox())["samples_executed"] == 2  # nothing twice


def test_rescoring_a_run_folders_samples_names_the_run_that_made_them(task, tmp_path):
    run = tmp_path / "greedy"
    run.mkdir()
    source = {"config_hash": "abc", "method": {"label": "greedy", "rule": "greedy"}, "model": {"name": "m"}}
    (run / "config.json").write_text(json.dumps(source))
    write_lines(
        run / "samples.jsonl",
        [{"task_id": "HumanEval/0", "sample_idx": 0, "completion": "    return x + 1\n"}],
    )
    summary = evaluate_samples_file(task, run / "samples.jsonl", tmp_path / "out", Sandbox())
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["kind"] == "samples-file" and config["source_run"] == source
    assert summary["method"] == "greedy" and summary["pass@1"] == 1.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["evaluate"], "give a run folder"),
        (["evaluate", "--samples", "x.jsonl"], "needs --task"),
        (["evaluate", "--samples", "x.jsonl", "--task", "humaneval", "--out", "o", "somedir"], "not both"),
        (["evaluate", "--samples", "/nope.jsonl", "--task", "humaneval", "--out", "o"], "does not exist"),
    ],
)
def test_evaluate_bad_input_is_one_line(args, needle, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "uscd", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and needle in lines[0], proc.stderr
