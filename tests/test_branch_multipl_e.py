"""The branch method on MultiPL-E prompts: the translated `>>>` examples become checks in the prompt's
language (uscd.prompts.examples_multipl_e), run as one program in MultiPL-E's test style
(uscd.search.frames). Counts are pinned on the shared data; each language's frame is run in the real
sandbox on a committed greedy program that passes its hidden tests (it must pass its checks) and
against a wrong expected value (it must fail)."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from tests.test_branch_search import CONFIG, Fake

from uscd.engine import Decoder, Request
from uscd.methods import BranchSearch, Sampler
from uscd.prompts.examples import extract_checks
from uscd.prompts.examples_multipl_e import LANGUAGES
from uscd.runs import read_jsonl
from uscd.search.branch import branch_generate
from uscd.search.checks import CheckRun, run_checks
from uscd.search.frames import FRAMES, check_program
from uscd.search.subject import completion_subject

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multipl-e"
RUNS = ROOT / "results" / "qwen2.5-coder-0.5b"

# language: (problems, problems with checks, checks, skipped examples) on the reworded HumanEval prompts
COUNTS = {
    "cpp": (161, 158, 450, 4), "go": (154, 151, 428, 4), "java": (158, 155, 439, 4),
    "js": (161, 158, 450, 4), "lua": (161, 156, 447, 4), "php": (161, 158, 450, 4),
    "pl": (161, 158, 450, 4), "r": (161, 156, 447, 4), "rb": (161, 158, 450, 4),
    "rs": (156, 153, 434, 4), "sh": (158, 107, 328, 120), "ts": (159, 156, 443, 4),
}  # fmt: skip
# one problem per language whose committed greedy program passes its hidden tests
KNOWN_GOOD = {lang: "HumanEval_35_max_element" for lang in LANGUAGES} | {
    "pl": "HumanEval_13_greatest_common_divisor",
    "rs": "HumanEval_55_fib",
}


def records(language: str) -> list[dict]:
    path = DATA / f"humaneval-{language}-reworded.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def test_every_language_with_checks_has_a_frame():
    assert set(FRAMES) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_checks_are_the_translated_examples(language):
    extracted = [extract_checks(r["prompt"], language) for r in records(language)]
    counts = (
        len(extracted),
        sum(bool(e.checks) for e in extracted),
        sum(len(e.checks) for e in extracted),
        sum(len(e.skipped) for e in extracted),
    )
    assert counts == COUNTS[language]
    assert all(c.language == language and c.mode == "call" for e in extracted for c in e.checks)


def test_a_cpp_example_is_a_call_and_its_value():
    prompt = next(r["prompt"] for r in records("cpp") if r["name"] == "HumanEval_72_will_it_fly")
    first = extract_checks(prompt, "cpp").checks[0]
    assert first.code == "will_it_fly((std::vector<long>({(long)1, (long)2})), (5))"
    assert first.expected == "(false)"  # not the untranslated "# 1+2 is less ..." line after it


def test_bash_list_values_are_skipped():
    prompt = next(r["prompt"] for r in records("sh") if r["name"] == "HumanEval_101_words_string")
    examples = extract_checks(prompt, "sh")
    assert examples.checks == () and {s.reason for s in examples.skipped} == {
        "expected value is not one quoted string"
    }


def test_frames_continue_the_completion_as_multipl_e_tests_do():
    check = extract_checks("// >>> fib((10))\n// (55)\nlong fib(long n) {\n", "cpp").checks[0]
    program = check_program("long fib(long n) {\n    return 55;", [check], "cpp")
    assert program.endswith("return 55;\n}\nint main() {\n    assert(fib((10)) == (55));\n}\n")
    ruby = extract_checks("# >>> fib.call(10)\n# 55\ndef fib(n)\n", "rb").checks[0]
    program = check_program("def fib(n)\n  55\nend\n", [ruby], "rb")
    assert "candidate = method(:fib)\n    assert_equal(55, candidate.call(10))\n" in program


def committed(language: str, task_id: str) -> tuple[str, list]:
    """A committed greedy program (prompt + completion) of `task_id` and its prompt's checks."""
    run = RUNS / f"multipl-e-{language}" / "greedy"
    if not (run / "samples.jsonl").exists():
        pytest.skip(f"{run} is not committed here")
    results = {r["task_id"]: r["status"] for r in read_jsonl(run / "results.jsonl")}
    assert results[task_id] == "pass"
    sample = next(s for s in read_jsonl(run / "samples.jsonl") if s["task_id"] == task_id)
    prompt = next(r["prompt"] for r in records(language) if r["name"] == task_id)
    return prompt + sample["completion"], list(extract_checks(prompt, language).checks)


def wrong(expected: str) -> str:
    """The expected value with its last number one higher."""
    digits = list(re.finditer(r"\d+", expected))[-1]
    return expected[: digits.start()] + str(int(digits.group()) + 1) + expected[digits.end() :]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_program_that_passes_its_tests_passes_its_checks(language):
    from uscd.execution import languages

    try:
        languages.require(language)
    except languages.ToolchainMissing as exc:
        pytest.skip(str(exc))
    program, checks = committed(language, KNOWN_GOOD[language])
    good = run_checks(program, checks)
    assert good.all_passed, good.reason
    bad = run_checks(program, [*checks[:-1], replace(checks[-1], expected=wrong(checks[-1].expected))])
    assert bad.n_passed == 0 and bad.status != "pass"


def test_the_search_judges_multipl_e_programs_in_their_language():
    """A JavaScript prompt's search hands the judge JavaScript checks and prompt + completion."""
    prompt = "// >>> f(1)\n// 3\n// >>> f(2)\n// 6\nfunction f(x){\n"
    seen = []

    def judge(solution, checks):
        seen.append((solution, checks))
        return CheckRun((False,) * len(checks), ("",) * len(checks), "fail", "", 0.0)

    rule = BranchSearch(max_branches=1)
    request = Request(prompt, None, rule, Sampler(), CONFIG, subject=completion_subject(prompt, "js"))
    gen = branch_generate(Decoder(Fake()), request, judge=judge)
    assert gen.search["checks"] == 2 and len(seen) == 2
    assert all(s.startswith(prompt) and {c.language for c in cs} == {"js"} for s, cs in seen)


def test_generate_searches_a_javascript_prompt_with_node():
    """`uscd generate --rule branch --language js` on the fake model: the checks are the prompt's
    JavaScript examples, run by Node in the sandbox (the fake's programs fail them: A is kept)."""
    from uscd.cli.generate import decode
    from uscd.execution import languages

    try:
        languages.require("js")
    except languages.ToolchainMissing as exc:
        pytest.skip(str(exc))
    prompt = "// >>> f(1)\n// 3\nfunction f(x){\n"
    gen = decode(Decoder(Fake()), prompt, {}, BranchSearch(max_branches=2), Sampler(), CONFIG, None, "js")
    search = gen.search
    assert search["checks"] == 1 and search["outcome"] == "a-kept" and search["branches_tried"] == 2
    assert search["a_checks"]["status"] != "pass"


def test_the_language_table_reads_the_committed_branch_runs():
    """scripts/branch_languages.py (docs/branch.md's MultiPL-E table): one row per scored language,
    its figures those of the run folders' summaries."""
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    out = subprocess.run(
        [sys.executable, "scripts/branch_languages.py"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    js = next(line for line in out.splitlines() if line.startswith("| js |"))
    run = root / "results/qwen2.5-coder-0.5b/multipl-e-js"
    for folder in ("greedy", "branch"):
        passed = json.loads((run / folder / "summary.json").read_text())["pass@1"]
        assert f"{100 * passed:.1f} %" in js
    assert out.splitlines()[-1].startswith("| **all (")
    doc = (root / "docs/branch.md").read_text()
    begin, end = "<!-- branch-languages: begin -->\n", "\n<!-- branch-languages: end -->"
    committed = doc.split(begin)[1].split(end)[0]
    assert committed == out.rstrip("\n"), "paste scripts/branch_languages.py's table into docs/branch.md"
