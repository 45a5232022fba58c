"""uscd.prompts.lame.derive on small hand-written prompts: one construct at a time, every language family."""

from __future__ import annotations

import ast
import textwrap

import pytest

from uscd.errors import UscdError
from uscd.prompts.lame import KINDS, LANGUAGES, compare_lame, derive, normalize_language


def py(doc_body: str, head: str = "def f(x):\n") -> str:
    """A Python prompt: `head` plus a docstring whose body is `doc_body` (dedented, re-indented)."""
    body = textwrap.indent(textwrap.dedent(doc_body).strip("\n"), "    ")
    return f'{head}    """\n{body}\n    """\n'


def parses(prompt: str) -> bool:
    try:
        ast.parse(prompt + "    pass\n")
    except SyntaxError:
        return False
    return True


def test_doctest_block_removed_with_outputs():
    prompt = py(
        """
        Return x doubled.
        >>> f(2)
        4
        >>> f([1,
        ...    2])
        [1, 2, 1, 2]
        """
    )
    res = derive(prompt, "python")
    assert res.lame == py("Return x doubled.")
    assert {r.kind for r in res.removals} == {"doctest"}
    assert not res.is_noop and parses(res.lame)


def test_doctest_multiline_output_by_brackets():
    prompt = py(
        """
        Words.
        >>> f(['3'])
        ["one",
         "two"]
        """
    )
    assert derive(prompt).lame == py("Words.")


def test_doctest_with_empty_output_and_blank_lines_between():
    prompt = py(
        """
        Longest string.
        >>> f([])

        >>> f(['a'])
        'a'
        """
    )
    assert derive(prompt).lame == py("Longest string.")


def test_example_heading_and_arrow_examples():
    for arrow in ("➞", "=>", "->", "==", "==>", "=", "returns", "should return"):
        prompt = py(
            f"""
            Check it.

            Examples:
            f(3) {arrow} 5
            f([1, 2]) {arrow} [2]
            """
        )
        res = derive(prompt)
        assert res.lame == 'def f(x):\n    """\n    Check it.\n\n    """\n', arrow
        assert [r.kind for r in res.removals] == ["example-heading", "arrow-example"]


def test_for_example_block_then_spec_sentence_is_kept():
    prompt = py(
        """
        Return pairs.
        For example:
        f(1) => "YES"
        f(2) => "NO"
        It is assumed that the input lists will be non-empty.
        """
    )
    assert derive(prompt).lame == py("Return pairs.\nIt is assumed that the input lists will be non-empty.")


def test_input_output_pairs_and_explanation():
    prompt = py(
        """
        Pluck a node.

        Example 1:
            Input: [4,2,3]
            Output: [2, 1]
            Explanation: 2 has the smallest even value,
                         and the smallest index.

        Constraints:
            * 1 <= nodes.length <= 10000
        """
    )
    res = derive(prompt)
    assert res.lame == py("Pluck a node.\n\nConstraints:\n    * 1 <= nodes.length <= 10000")
    assert {r.kind for r in res.removals} >= {"example-heading", "io-pair", "explanation"}


def test_io_pair_without_heading():
    prompt = py("Sum it.\nInput: 1 2\nOutput: 3")
    assert derive(prompt).lame == py("Sum it.")
    # an "Output:" section that describes the result is specification: kept
    spec = py("Sum it.\nOutput:\n    the sum as a string")
    assert derive(spec).is_noop


def test_definitions_that_look_like_examples_are_kept():
    prompt = py(
        """
        The sequence is defined as follows:
        fib4(0) -> 0
        fib4(1) -> 0
        fib4(n) -> fib4(n-1) + fib4(n-2).
        Compute it.
        >>> fib4(5)
        4
        """
    )
    assert derive(prompt).lame == py(
        """
        The sequence is defined as follows:
        fib4(0) -> 0
        fib4(1) -> 0
        fib4(n) -> fib4(n-1) + fib4(n-2).
        Compute it.
        """
    )


def test_examples_without_heading_after_a_blank_line():
    prompt = py("Is it nested?\n\nf('[[]]') ➞ True\nf('[]') ➞ False\n\nIf empty, return False.")
    assert derive(prompt).lame == py("Is it nested?\n\nIf empty, return False.")


def test_inline_example_sentences_are_specification():
    prompt = py(
        """
        Round away from zero. For example f("14.5") should
        return 15 and f("-14.5") should return -15.
        E.g. (()()) has two levels.
        """
    )
    assert derive(prompt).is_noop


def test_eg_sentence_with_call_is_removed():
    prompt = py("Add numbers.\ne.g. add(2, 3) == 5\nNo overflow.")
    res = derive(prompt)
    assert res.lame == py("Add numbers.\nNo overflow.")
    assert [r.kind for r in res.removals] == ["eg-sentence"]


def test_parenthesised_eg_is_a_partial_span():
    prompt = py("Add numbers (e.g. add(2, 3) == 5) without overflow.")
    res = derive(prompt)
    assert res.lame == py("Add numbers without overflow.")
    assert res.removals[0].partial and res.removals[0].kind == "eg-sentence"


def test_mbpp_assert_line_in_docstring_and_in_code():
    prompt = '"""\nWrite a function to add.\nassert add(1, 2) == 3\n"""\n'
    assert derive(prompt).lame == '"""\nWrite a function to add.\n"""\n'
    code = "def add(a, b):\n    return a + b\nassert add(1, 2) == 3\n"
    assert derive(code).lame == "def add(a, b):\n    return a + b\n"


def test_closing_delimiter_on_the_output_line_keeps_the_delimiter():
    prompt = 'def f(x):\n    """Double.\n>>> f(2)\n4"""\n'
    res = derive(prompt)
    assert res.lame == 'def f(x):\n    """Double.\n"""\n'
    assert parses(res.lame)
    assert any(r.partial for r in res.removals)


def test_no_examples_is_a_flagged_noop():
    prompt = py("Return the number of collisions.\n\nNote: n >= 0.")
    res = derive(prompt)
    assert res.is_noop and res.lame == prompt and res.removals == ()


def test_code_outside_docstrings_is_never_touched():
    prompt = 'x = f(3) == 5\nprint(">>> f(3)")\ndef g():\n    """Doc."""\n'
    assert derive(prompt).is_noop


def test_removal_records_reconstruct_the_lame_prompt():
    prompt = py("Spec.\n>>> f(1)\n2\nExamples:\nf(2) == 4")
    res = derive(prompt)
    rebuilt, pos = [], 0
    for r in res.removals:
        assert prompt[r.start : r.end] == r.text
        assert r.kind in KINDS
        rebuilt.append(prompt[pos : r.start])
        pos = r.end
    rebuilt.append(prompt[pos:])
    assert "".join(rebuilt) == res.lame
    assert res.to_dict()["removals"][0]["kind"] == "doctest"
    assert set(res.kinds()) == set(res.removed_lines())


# --- other languages: the comment syntaxes MultiPL-E prompts use

COMMENTED = {
    "js": ("//Add.\n// >>> add(1, 2)\n// 3\nfunction add(a, b){\n", "//Add.\nfunction add(a, b){\n"),
    "cpp": (
        "#include<assert.h>\n// Add.\n// >>> add((1), (2))\n// (3)\nlong add(long a, long b) {\n",
        "#include<assert.h>\n// Add.\nlong add(long a, long b) {\n",
    ),
    "java": (
        "class Problem {\n    // Add.\n    // Examples:\n    // >>> add(1l, 2l)\n    // (3l)\n"
        "    public static long add(",
        "class Problem {\n    // Add.\n    public static long add(",
    ),
    "rs": (
        "/// Add.\n/// >>> add(1, 2)\n/// 3\nfn add(a: isize) -> isize {\n",
        "/// Add.\nfn add(a: isize) -> isize {\n",
    ),
    "sh": (
        '#!/bin/bash\n# Add.\n# >>> $(add "1" "2")\n# "3"\n#\n# $1 is an integer\nadd() {\n',
        "#!/bin/bash\n# Add.\n#\n# $1 is an integer\nadd() {\n",
    ),
    "lua": (
        "-- Add.\n-- >>> add(1, 2)\n-- 3\nlocal function add(a, b)\n",
        "-- Add.\nlocal function add(a, b)\n",
    ),
    "hs": (
        "-- | Add.\n--  >>> add 1 2\n--  3\nadd :: Int -> Int -> Int\n",
        "-- | Add.\nadd :: Int -> Int -> Int\n",
    ),
    "rkt": (
        "#lang racket\n;; Add.\n;; >>> (add 1 2)\n;; 3\n(define (add a b)\n",
        "#lang racket\n;; Add.\n(define (add a b)\n",
    ),
    "ml": ("(**Add.\n * >>> add 1 2\n * 3\n*)\nlet add a b =\n", "(**Add.\n*)\nlet add a b =\n"),
    "d": ("/*\nAdd.\n>>> add(1, 2)\n3\n*/\nlong add(long a)\n", "/*\nAdd.\n*/\nlong add(long a)\n"),
    "jl": ('""" Add.\n>>> add(1, 2)\n3"""\nfunction add(a)\n', '""" Add.\n"""\nfunction add(a)\n'),
    "php": (
        "<?php\n// Add.\n// >>> add(1, 2)\n// 3\nfunction add($a, $b) {\n",
        "<?php\n// Add.\nfunction add($a, $b) {\n",
    ),
    "rb": ("# Add.\n# >>> add.call(1, 2)\n# 3\ndef add(a, b)\n", "# Add.\ndef add(a, b)\n"),
    "pl": ("# Add.\n# >>> add(1, 2)\n# 3\nsub add {\n", "# Add.\nsub add {\n"),
    "r": ("# Add.\n# >>> add(1, 2)\n# 3\nadd <- function(a, b) {\n", "# Add.\nadd <- function(a, b) {\n"),
    "go": ("// Add.\n// >>> add(1, 2)\n// 3\nfunc add(a int) int {\n", "// Add.\nfunc add(a int) int {\n"),
    "ts": (
        "//Add.\n// >>> add(1, 2)\n// 3\nfunction add(a: number): number {\n",
        "//Add.\nfunction add(a: number): number {\n",
    ),
    "elixir": (
        "# Add.\n# >>> HumanEval.add(1, 2)\n# 3\n\ndefmodule HumanEval do\n",
        "# Add.\n\ndefmodule HumanEval do\n",
    ),
}


@pytest.mark.parametrize("language", sorted(COMMENTED))
def test_comment_doctests_per_language(language: str):
    standard, expected = COMMENTED[language]
    assert derive(standard, language).lame == expected


def test_block_comments_and_arrow_examples_in_c():
    prompt = "/* Add.\n * Examples:\n * add(1, 2) => 3\n */\nint add(int a, int b) {\n"
    assert derive(prompt, "cpp").lame == "/* Add.\n */\nint add(int a, int b) {\n"


def test_string_literals_in_code_are_not_comments():
    prompt = 'const url = "http://x.org//>>> f(1)";\n// Add.\nfunction f(){\n'
    assert derive(prompt, "js").is_noop


def test_ruby_begin_end_and_text_language():
    rb = "=begin\nAdd.\n>>> add(1, 2)\n3\n=end\ndef add(a, b)\n"
    assert derive(rb, "rb").lame == "=begin\nAdd.\n=end\ndef add(a, b)\n"
    text = "Write a function to add.\nYour code should pass:\nassert add(1, 2) == 3\n"
    assert derive(text, "text").lame == "Write a function to add.\nYour code should pass:\n"


def test_languages_and_aliases():
    assert {"python", "js", "cpp", "java", "go", "rs", "sh", "lua", "php", "rb", "pl", "r", "text"} <= set(
        LANGUAGES
    )
    assert normalize_language("Py") == "python"
    assert normalize_language("C++") == "cpp"
    assert normalize_language("rust") == "rs"
    with pytest.raises(UscdError, match="unknown prompt language"):
        derive("x", "cobol")


def test_compare_lame_finds_over_cut_specification():
    standard = py("Do it.\nIgnore spaces.\nE.g. 'a b' is 'ab'.\n>>> f('a b')\n'ab'")
    ours = derive(standard)
    other = py("Do it.")
    cmp = compare_lame(standard, ours, other)
    assert cmp.other_only == ("Ignore spaces.", "E.g. 'a b' is 'ab'.")
    assert cmp.over_cut == ("Ignore spaces.",)  # the e.g. sentence is an inline example
    assert cmp.ours_only == () and cmp.rewritten == ()
