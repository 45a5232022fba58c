"""Held-out tests (uscd.tasks.heldout, uscd.run.heldout): the split drops exactly the asserts that
repeat a prompt example, the committed split is what the code makes, canonical solutions pass what
is left, and a run folder is scored on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uscd.run.heldout import RESULTS, SUMMARY, held_out_problems, paired, score_folder
from uscd.tasks import get_task
from uscd.tasks.base import Problem
from uscd.tasks.heldout import held_out, held_out_problem

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = {"humaneval": SHARED / "humaneval" / "HumanEval.jsonl.gz", "mbpp": SHARED / "mbpp" / "mbpp.jsonl"}


def problems(task: str) -> list[Problem]:
    if not DATA[task].exists():
        pytest.skip(f"{DATA[task]} is not available")
    return get_task(task, data=str(DATA[task])).problems(None)


PROMPT = (
    'def f(x):\n    """Double.\n    >>> f(2)\n    4\n\n    Example:\n    f([1, 2]) ➞ [1, 2, 1, 2]\n    """\n'
)
TAIL = (
    "\n\ndef check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 6\n"
    "    assert candidate([1,2]) == [1, 2, 1, 2]\n    for i in range(3):\n        assert candidate(2) == 4\n"
    "check(f)\n"
)


def toy(tail: str = TAIL) -> Problem:
    return Problem("toy/0", PROMPT, None, (), "f", PROMPT, tail)


def test_the_asserts_on_example_inputs_go_and_everything_else_stays():
    split = held_out(toy())
    assert split.kept == 1
    assert split.dropped == (
        "assert candidate(2) == 4",
        "assert candidate([1, 2]) == [1, 2, 1, 2]",  # the same input, written differently
        "assert candidate(2) == 4",
    )
    assert "for i in range(3):\n        pass" in split.tail  # an emptied block stays valid Python
    assert "assert candidate(3) == 6" in split.tail and split.tail.rstrip().endswith("check(f)")
    compile(split.tail, "tail", "exec")


def test_a_problem_whose_tests_all_repeat_examples_has_no_held_out_test():
    assert held_out_problem(toy("\nassert f(2) == 4\n")) is None


def test_counts_and_the_committed_split():
    """Pinned, and the committed docs/heldout-split files are exactly what the code makes."""
    for task, (kept, dropped, empty) in {
        "humaneval": (845, 336, ["HumanEval/34"]),
        "mbpp": (996, 504, ["37"]),
    }.items():
        rows = [held_out(p).to_dict() for p in problems(task)]
        assert sum(r["kept"] for r in rows) == kept and sum(len(r["dropped"]) for r in rows) == dropped
        assert [r["task_id"] for r in rows if not r["kept"]] == empty
        committed = (ROOT / "docs" / "heldout-split" / f"{task}.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in committed] == rows


def test_mbpp_drops_the_prompt_assert():
    for problem in problems("mbpp")[:50]:
        first = problem.prompt.splitlines()[2]
        split = held_out(problem)
        assert split.dropped and all(
            first.replace(" ", "") != line.replace(" ", "") for line in split.tail.splitlines()
        )


def test_humaneval_canonical_solutions_pass_their_held_out_tests(tmp_path):
    held = held_out_problems(problems("humaneval"))
    assert len(held) == 163
    write_run(tmp_path, [(t, p.prompt + p.reference) for t, p in held.items()])
    summary = score_folder(tmp_path, held)
    assert summary["pass@1_heldout"] == 1.0 and summary["problems"] == 163


def write_run(folder: Path, solutions: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"task_id": t, "sample_idx": 0, "solution": s, "completion": ""} for t, s in solutions]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_run_folder_is_scored_and_paired(tmp_path):
    right = toy().prompt + "    return x * 2\n"
    wrong = toy().prompt + "    return x + 2\n"  # passes f(2) == 4, the example: not held out
    other = Problem("toy/1", PROMPT, None, (), "f", PROMPT, "\nassert f(5) == 10\n")
    held = {"toy/0": held_out_problem(toy()), "toy/1": held_out_problem(other)}
    write_run(tmp_path / "a", [("toy/0", wrong), ("toy/1", wrong)])
    write_run(tmp_path / "b", [("toy/0", right), ("toy/1", wrong)])
    a, b = score_folder(tmp_path / "a", held), score_folder(tmp_path / "b", held)
    assert (a["pass@1_heldout"], b["pass@1_heldout"]) == (0.0, 0.5)
    assert (tmp_path / "b" / RESULTS).exists() and json.loads((tmp_path / "b" / SUMMARY).read_text()) == b
    assert paired(tmp_path / "a", tmp_path / "b") == {
        "problems": 2,
        "fail_to_pass": 1,
        "pass_to_fail": 0,
        "p_value": 1.0,
    }
