"""Held-out tests of MultiPL-E problems (uscd.tasks.heldout_multipl_e): the assertions that call the
function on an example's input are dropped, whole (Perl's blocks too), in every call form; counts
are pinned on the shared data; a program that passes its tests still passes the held-out ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from uscd.prompts.examples_multipl_e import LANGUAGES
from uscd.runs import read_jsonl
from uscd.tasks import get_task
from uscd.tasks.heldout import held_out, held_out_problem

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multipl-e"

# language: (assertions kept, dropped) over the reworded HumanEval prompts; one problem (/34) has
# only leaked tests in every language but Bash (whose list examples are not checks)
COUNTS = {
    "cpp": (787, 343), "go": (756, 324), "java": (768, 334), "js": (787, 343), "lua": (788, 342),
    "php": (787, 343), "pl": (787, 343), "r": (788, 342), "rb": (787, 343), "rs": (776, 316),
    "sh": (866, 255), "ts": (779, 336),
}  # fmt: skip


def problems(language: str):
    if not (DATA / f"humaneval-{language}-reworded.jsonl.gz").exists():
        pytest.skip(f"MultiPL-E {language} is not in {DATA}")
    return get_task(f"multipl-e-{language}", data=str(DATA)).problems(None)


def problem(language: str, prefix: str):
    return next(p for p in problems(language) if p.task_id.startswith(prefix))


@pytest.mark.parametrize("language", LANGUAGES)
def test_counts(language):
    splits = [held_out(p) for p in problems(language)]
    assert (sum(s.kept for s in splits), sum(len(s.dropped) for s in splits)) == COUNTS[language]


@pytest.mark.parametrize(
    ("language", "dropped_line"),
    [
        ("cpp", "assert(candidate((10)) == (55));"),
        ("java", "assert(fib((10l)) == (55l));"),
        ("rb", "assert_equal(55, candidate.call(10))"),
        ("sh", '[[ $(candidate "10") = "55" ]]'),
        ("go", "{ actual: candidate(10), expected: 55 },"),
        ("php", 'if (candidate(10) !== 55) { throw new Exception("Test failed!"); }'),
    ],
)
def test_every_call_form_is_recognised(language, dropped_line):
    split = held_out(problem(language, "HumanEval_55_"))
    assert split.dropped[0].strip() == dropped_line
    assert len(split.dropped) == 3 and split.kept == 2  # fib(10), fib(1), fib(8) are the examples
    assert "(11)" in split.tail or "11" in split.tail


def test_a_perl_block_goes_whole_and_the_wrapper_is_no_test():
    split = held_out(problem("pl", "HumanEval_55_"))
    assert split.dropped[0].strip().startswith("if(eq_deeply($candidate->(10),55)) {")
    assert split.dropped[0].rstrip().endswith("}") and split.tail.count("eq_deeply") == 2
    php = held_out(problem("php", "HumanEval_55_"))
    assert "function candidate(...$args)" in php.tail and php.kept == 2


def test_a_passing_program_passes_its_held_out_tests():
    from uscd.execution import languages, run_program

    try:
        languages.require("js")
    except languages.ToolchainMissing as exc:
        pytest.skip(str(exc))
    run = ROOT / "results" / "qwen2.5-coder-0.5b" / "multipl-e-js" / "greedy"
    passed = {r["task_id"] for r in read_jsonl(run / "results.jsonl") if r["status"] == "pass"}
    sample = next(s for s in read_jsonl(run / "samples.jsonl") if s["task_id"] == "HumanEval_55_fib")
    assert sample["task_id"] in passed
    held = held_out_problem(problem("js", "HumanEval_55_"))
    assert run_program(held.program(sample["completion"]), language="js").passed
    broken = held.program("  return 0;\n}\n")
    assert not run_program(broken, language="js").passed
