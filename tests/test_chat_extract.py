"""Code extraction from chat replies, on crafted replies (no model)."""

from __future__ import annotations

import ast

import pytest

from uscd.prompts.chat import reply_prefix
from uscd.prompts.extract import extract_code, fenced_blocks, longest_parsing_span
from uscd.prompts.failures import failure_breakdown, failure_kind

SOLUTION = "def add(a: int, b: int) -> int:\n    return a + b"


def test_no_fence_plain_code_is_taken_whole():
    assert extract_code(SOLUTION + "\n", "add") == SOLUTION


def test_no_fence_prose_around_code_keeps_only_the_code():
    reply = f"Sure! Here is the function:\n\n{SOLUTION}\n\nIt adds the two numbers and returns the sum."
    assert extract_code(reply, "add") == SOLUTION


def test_prose_only_reply_has_no_code():
    assert extract_code("I am sorry, I cannot help with that request.", "add") == ""


def test_two_fences_the_one_defining_the_entry_point_wins():
    reply = (
        "First a helper idea:\n```python\nnumbers = [1, 2, 3]\nprint(sum(numbers))\n```\n"
        f"The solution:\n```python\n{SOLUTION}\n```\nExample:\n```python\nprint(add(1, 2))\n```\n"
    )
    assert extract_code(reply, "add") == SOLUTION


def test_two_fences_without_the_entry_point_the_longest_wins():
    other = "def plus(a, b):\n    total = a + b\n    return total"
    reply = f"```python\nx = 1\n```\nthen\n```python\n{other}\n```"
    assert extract_code(reply, "add") == other


def test_unterminated_fence_runs_to_the_end():
    reply = f"Here it is:\n```python\n{SOLUTION}\n"
    assert fenced_blocks(reply)[0].closed is False
    assert extract_code(reply, "add") == SOLUTION


def test_code_then_explanation_drops_the_explanation():
    reply = f"```python\n{SOLUTION}\n```\n\nExplanation:\n- `a + b` is returned.\n```\nadd(1, 2) -> 3\n```"
    assert extract_code(reply, "add") == SOLUTION


def test_main_block_with_prints_is_dropped_and_imports_kept():
    reply = (
        "```python\nfrom typing import List\nimport math\n\n\n"
        "def norm(xs: List[float]) -> float:\n    return math.sqrt(sum(x * x for x in xs))\n\n\n"
        'print(norm([3, 4]))\n\nif __name__ == "__main__":\n'
        "    print(norm([1]))\n    assert norm([0]) == 0\n```"
    )
    code = extract_code(reply, "norm")
    assert code == (
        "from typing import List\nimport math\n"
        "def norm(xs: List[float]) -> float:\n    return math.sqrt(sum(x * x for x in xs))"
    )
    ast.parse(code)


def test_a_different_function_name_is_kept_as_written():
    """The tests will call the entry point and fail with a NameError: the model's fault, not ours."""
    reply = "```python\nimport os\n\ndef sum_two(a, b):\n    return a + b\n\nprint(sum_two(1, 2))\n```"
    assert extract_code(reply, "add") == "import os\ndef sum_two(a, b):\n    return a + b"


def test_helpers_the_entry_point_uses_are_kept_and_others_dropped():
    reply = (
        "```python\nLIMIT = 10\n\ndef helper(x):\n    return x * LIMIT\n\n"
        "def add(a, b):\n    return helper(a) + b\n\ndef check():\n    assert add(1, 2) == 12\n\ncheck()\n```"
    )
    code = extract_code(reply, "add")
    assert "def helper" in code and "LIMIT = 10" in code and "def add" in code
    assert "def check" not in code and "check()" not in code


def test_decorators_and_classes_are_kept():
    reply = (
        "```python\nimport functools\n\nclass Box:\n    pass\n\n"
        "@functools.lru_cache(None)\ndef add(a, b):\n    return Box and a + b\n```"
    )
    code = extract_code(reply, "add")
    assert "@functools.lru_cache(None)\ndef add" in code and "class Box" in code


def test_truncated_code_keeps_the_longest_part_that_parses():
    reply = f"```python\n{SOLUTION}\n\ndef unfinished(x):\n    if x >"
    assert extract_code(reply, "add") == SOLUTION


def test_longest_span_prefers_spans_defining_the_entry_point():
    lines = ["x = (", "def add(a, b):", "    return a + b", "Some prose here that is not code at all"]
    assert longest_parsing_span(lines, "add") == "def add(a, b):\n    return a + b"


def test_reply_with_the_chat_prefix_extracts_what_the_model_continued():
    completion = SOLUTION + "\n\n# Example usage\nresult = add(2, 3)"
    assert extract_code(reply_prefix("python") + completion, "add") == SOLUTION


def test_tilde_fences_and_indented_fences_are_recognised():
    assert fenced_blocks("~~~python\nx = 1\n~~~")[0].text == "x = 1"
    assert fenced_blocks("  ```\ny = 2\n  ```")[0].text == "y = 2"


@pytest.mark.parametrize(
    ("language", "reply", "expected"),
    [
        (
            "js",
            "```javascript\nfunction add(a, b) { return a + b; }\n```\nDone.",
            "function add(a, b) { return a + b; }",
        ),
        ("rs", "```rust\nfn add(a: i32) -> i32 { a }\n```", "fn add(a: i32) -> i32 { a }"),
    ],
)
def test_other_languages_take_the_block_as_written(language, reply, expected):
    assert extract_code(reply, "add", language) == expected


def test_failure_kinds():
    sample = {"task_id": "t", "sample_idx": 0, "solution": SOLUTION}
    empty = {**sample, "solution": "  "}
    assert failure_kind(sample, {"status": "pass"}) is None
    assert failure_kind(empty, {"status": "fail", "reason": "NameError"}) == "no code found"
    assert failure_kind(sample, {"status": "timeout", "reason": "wall timeout 10s"}) == "timeout"
    assert failure_kind(sample, {"status": "fail", "reason": "SyntaxError: invalid syntax"}) == "syntax error"
    assert failure_kind(sample, {"status": "fail", "reason": "IndentationError: oops"}) == "syntax error"
    assert failure_kind(sample, {"status": "fail", "reason": "AssertionError"}) == "wrong answer"
    assert failure_kind(sample, {"status": "fail", "reason": "NameError: name 'add'"}) == "runtime error"
    results = [{"task_id": "t", "sample_idx": 0, "status": "fail", "reason": "AssertionError"}]
    counts = failure_breakdown([sample], results)
    assert counts["wrong answer"] == 1 and sum(counts.values()) == 1


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("base: SuiteFailed: base input 0 of 3: AssertionError", "wrong answer"),
        ("plus: SuiteFailed: plus input 17 of 102: AssertionError: x", "wrong answer"),
        ("base: SuiteFailed: base input 0 of 3: TypeError: bad operand", "runtime error"),
        ("base: SuiteFailed: base input 1 of 4: SyntaxError: invalid syntax", "syntax error"),
    ],
)
def test_failure_kinds_of_a_plus_task_read_past_the_suite_prefix(reason, kind):
    sample = {"task_id": "t", "sample_idx": 0, "solution": SOLUTION}
    assert failure_kind(sample, {"status": "fail", "reason": reason}) == kind
