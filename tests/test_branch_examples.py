"""The prompt's own examples as checks (uscd.prompts.examples) and their run in the sandbox
(uscd.search.checks): every form the lame derivation recognises, all HumanEval and MBPP prompts, and
the canonical solutions run against the extracted checks — the ones that disagree are a listed,
explained set."""

from __future__ import annotations

import gzip
import inspect
import json
from collections import Counter
from pathlib import Path

import pytest

from uscd.errors import UscdError
from uscd.prompts.examples import Check, extract_checks
from uscd.search.checks import check_program, read_report, run_checks, run_checks_many

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HUMANEVAL = SHARED / "humaneval" / "HumanEval.jsonl.gz"
MBPP = SHARED / "mbpp" / "mbpp.jsonl"


def humaneval() -> list[dict]:
    if not HUMANEVAL.exists():
        pytest.skip(f"{HUMANEVAL} is not available")
    with gzip.open(HUMANEVAL, "rt") as fh:
        return [json.loads(line) for line in fh]


def mbpp_problems():
    if not MBPP.exists():
        pytest.skip(f"{MBPP} is not available")
    from uscd.tasks import get_task

    return get_task("mbpp", data=str(MBPP)).problems(None)


def one(prompt: str) -> Check:
    checks = extract_checks(prompt).checks
    assert len(checks) == 1, checks
    return checks[0]


def doc(body: str, name: str = "f", params: str = "x") -> str:
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return f'def {name}({params}):\n    """Do it.\n\n{lines}    """\n'


# -- the forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "expected"),
    [
        ("Example:\nf(3) ➞ 5", "f(3)", "5"),
        ("Examples:\nf(3) == 5", "f(3)", "5"),
        ("Examples:\nf(3) -> [1, 2]", "f(3)", "[1, 2]"),
        ("Examples:\nf('a') => true", "f('a')", "True"),
        ("For example:\nf(2, 'b') returns 'bb'", "f(2, 'b')", "'bb'"),
        ("For example:\nf([1]) should return 1.", "f([1])", "1"),
        ('Examples:\nf(15)   # returns "db1111db"', "f(15)", '"db1111db"'),
        ("Examples:\nf(5, 1) ->19 - 5 - 6 = 8", "f(5, 1)", "8"),
        ('For example:\nFor x = "AB" the output should be 1.', "f('AB')", "1"),
    ],
)
def test_one_line_forms(body, code, expected):
    check = one(doc(body))
    assert (check.mode, check.code, check.expected) == ("equals", code, expected)
    assert check.text in doc(body)


def test_for_x_with_several_inputs_and_prose_after_them():
    check = one(doc('Example\nFor s = "ab", c = "a", the result should be (\'b\',False)', params="s, c"))
    assert (check.code, check.expected) == ("f('ab', 'a')", "('b',False)")
    check = one(
        doc('Example\nFor N = 150, the sum of digits will be 6 the output should be "110".', params="N")
    )
    assert (check.code, check.expected) == ("f(150)", '"110"')


def test_input_output_pairs_call_the_last_function_positionally():
    prompt = doc("Example 1:\n    Input: arr = [4, 2], k = 3\n    Output: [2]\n", params="arr, k")
    check = one(prompt)
    assert (check.mode, check.kind, check.code, check.expected) == (
        "equals",
        "io-pair",
        "f([4, 2], 3)",
        "[2]",
    )


def test_doctests_keep_doctest_semantics_and_comparisons_without_output_become_asserts():
    checks = extract_checks(doc(">>> f(1)\n2\n>>> f(2) == 4\n>>> y = f(3)\n")).checks
    assert [(c.mode, c.code, c.expected) for c in checks] == [
        ("doctest", "f(1)\n", "2\n"),
        ("assert", "assert f(2) == 4", ""),
        ("doctest", "y = f(3)\n", ""),
    ]
    assert [c.line for c in checks] == [4, 6, 7]


def test_mbpp_assert_as_it_stands():
    check = one('"""\nWrite a function.\nassert f(1, [2]) == (3, 4)\n"""\n')
    assert (check.mode, check.code) == ("assert", "assert f(1, [2]) == (3, 4)")


def test_unreadable_examples_are_skipped_with_a_reason():
    found = extract_checks(doc('Examples:\nf(abc) => False\nf(1) ==> ""x"'))
    assert found.checks == ()
    assert [s.reason for s in found.skipped] == [
        "not a call of a function on literal arguments",
        "the expected result is not a Python literal",
    ]


def test_no_examples_no_checks_and_other_languages_refused():
    assert extract_checks("def f(x):\n    '''Add one.'''\n").checks == ()
    with pytest.raises(UscdError, match="not scala"):  # MultiPL-E languages without a check frame
        extract_checks("// add one\ndef f(x: Long) : Long = {\n", "scala")


def test_checks_are_read_from_the_prompt_alone():
    assert list(inspect.signature(extract_checks).parameters) == ["prompt", "language"]


# -- all prompts -----------------------------------------------------------------------------


def test_every_humaneval_prompt():
    """Pinned counts (a change in the derivation or the readers shows here first)."""
    modes, kinds, with_checks, skipped = Counter(), Counter(), 0, 0
    for record in humaneval():
        found = extract_checks(record["prompt"])
        with_checks += bool(found.checks)
        skipped += len(found.skipped)
        for check in found.checks:
            modes[check.mode] += 1
            kinds[check.kind] += 1
            lines = record["prompt"].splitlines()
            # from the prompt, nothing else, at the line it gives
            assert all(part.strip() in record["prompt"] for part in check.text.splitlines())
            assert check.text.splitlines()[0].strip() in lines[check.line - 1]
    assert with_checks == 157
    assert modes == {"equals": 263, "doctest": 168, "assert": 14}
    assert kinds == {"arrow-example": 242, "doctest": 182, "io-pair": 18, "assert": 2, "example": 1}
    assert skipped == 28


def test_every_mbpp_prompt_gives_its_assert():
    problems = mbpp_problems()
    assert len(problems) == 500
    for problem in problems:
        check = one(problem.prompt)
        assert check.mode == "assert" and check.text in problem.prompt


# -- the sandbox run -------------------------------------------------------------------------

SQUARE = doc(">>> f(2)\n4\n>>> f(3) == 9\n\nExample:\nf(4) ➞ 16\n\n>>> print(f(1))\n1")


def test_per_check_verdicts():
    checks = extract_checks(SQUARE).checks
    assert len(checks) == 4
    right = run_checks(SQUARE + "    return x * x\n", checks)
    assert right.passed == (True,) * 4 and right.all_passed
    half = run_checks(SQUARE + "    return 4 if x == 2 else x * x + (x == 3)\n", checks)
    assert half.passed == (True, False, True, True) and half.n_passed == 3


def test_a_check_that_hangs_or_raises_fails_alone():
    checks = extract_checks(SQUARE).checks
    code = "    if x == 3:\n        while True:\n            pass\n    if x == 4:\n        raise KeyError\n"
    run = run_checks(SQUARE + code + "    return x * x\n", checks, per_check_s=0.5)
    assert run.passed == (True, False, False, True)
    assert run.details[1] == "timed out" and run.details[2] == "raised KeyError"


def test_a_solution_that_does_not_load_or_exits_fails_every_check():
    checks = extract_checks(SQUARE).checks
    broken = run_checks(SQUARE + "    return (\n", checks)
    assert broken.passed == (False,) * 4 and broken.details[0] == "solution: raised SyntaxError"
    gone = run_checks(SQUARE + "    return x\nimport os\nos._exit(0)\n", checks)
    assert gone.passed == (False,) * 4 and gone.status == "fail"


def test_printing_cannot_forge_the_report():
    checks = extract_checks(SQUARE).checks
    forged = 'print("USCD-CHECKS-0:[[true, \\"\\"], [true, \\"\\"], [true, \\"\\"], [true, \\"\\"]]")\n'
    run = run_checks(SQUARE + "    return 0\n" + forged, checks)
    assert run.n_passed == 0  # the marker is drawn fresh per program


def test_a_report_with_the_wrong_shape_is_no_report():
    class Result:
        stdout_tail = 'M:[[true, ""]]\n'
        status, reason, duration_s = "pass", "", 0.1

    checks = extract_checks(SQUARE).checks
    assert read_report(Result(), "M:", len(checks)).passed == (False,) * 4
    assert "_uscd_main(" in check_program("x = 1\n", checks, "M:", 1.0)


# which canonical solutions disagree with their own prompt's examples, and why
DISAGREE = {
    "HumanEval/47": (1, "the doctest's median (15.0) is wrong; the tests expect 8.0"),
    "HumanEval/65": (2, "expected output written \"21\", a str prints as '21'"),
    "HumanEval/81": (1, "the example calls grade_equation; the function is numerical_letter_grade"),
    "HumanEval/113": (2, "expected output written with double quotes; a list of str prints single ones"),
    "HumanEval/116": (
        3,
        "the examples sort by value; the function (and its tests) by number of ones; "
        "one example lacks its `==`",
    ),
    "HumanEval/130": (2, "the examples give tri(n) as one number; the function returns the sequence"),
    "HumanEval/148": (1, '("Venus") is a str in Python, the function returns a tuple'),
    "HumanEval/149": (2, "the examples call list_sort; the function is sorted_list_sum"),
    "367": (1, "MBPP's assert uses `root`, built by the hidden test setup, not by the prompt"),
}


def _disagreements(items) -> dict[str, int]:
    checks = {key: found for key, _, found in items}
    failing = {}
    for key, run in run_checks_many(items):
        assert len(run.passed) == len(checks[key])
        if not run.all_passed:
            failing[str(key)] = len(run.passed) - run.n_passed
    return failing


def test_humaneval_canonical_solutions_against_their_examples():
    items = []
    for record in humaneval():
        found = extract_checks(record["prompt"]).checks
        if found:
            items.append((record["task_id"], record["prompt"] + record["canonical_solution"], found))
    failing = _disagreements(items)
    expected = {k: n for k, (n, _) in DISAGREE.items() if k.startswith("HumanEval/")}
    assert failing == expected
    assert sum(len(c) for _, _, c in items) == 445 and sum(failing.values()) == 14


@pytest.mark.slow
def test_mbpp_canonical_solutions_against_their_assert():
    items = [(p.task_id, p.prompt + p.reference, extract_checks(p.prompt).checks) for p in mbpp_problems()]
    assert _disagreements(items) == {"367": 1}
