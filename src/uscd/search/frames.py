"""A MultiPL-E solution's example checks as one program of its language, in MultiPL-E's test style.

Each frame is the shape of MultiPL-E's own test suites for that language (its translators'
prefix, assertion form and suffix: `assert(a == b)` in C++, `assert.deepEqual` in JavaScript,
`lu.assertEquals` in Lua, `eq_deeply` in Perl, `all.equal` in R, ...), filled with the prompt's
examples (uscd.prompts.examples_multipl_e) instead of the hidden tests. The frame starts where
MultiPL-E's tests start, right after the completion (C++, Rust, Bash and Java close the function
first, as their stop tokens leave it open). Java compares with `Objects.equals` on boxed values,
one form for MultiPL-E's `==` (primitives) and `.equals` (objects).

The checks of one solution run as one program: it passes all of them or none (uscd.search.checks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from uscd.errors import UscdError
from uscd.prompts.examples import Check

GO_LOOP = """\t}
\tfor i, tc := range tests {
\t\tt.Run(fmt.Sprintf("test num % d", i), func(t *testing.T) {
\t\t\tif fmt.Sprintf("%v", tc.actual) != fmt.Sprintf("%v", tc.expected) {
\t\t\t\tt.Errorf("expected '%s', got '%s'", tc.expected, tc.actual)
\t\t\t}
\t\t})
\t}
}
"""
JS_HEAD = "const assert = require('node:assert');\n\n\nfunction test() {\n"


@dataclass(frozen=True)
class Frame:
    head: str  # after the solution, before the checks; {entry}: the called function
    check: str  # one check: {call} and {expected} (placeholders, not str.format)
    tail: str


FRAMES: dict[str, Frame] = {
    "cpp": Frame("}\nint main() {\n", "    assert({call} == {expected});\n", "}\n"),
    "go": Frame(
        "func TestExamples(t *testing.T) {\n\ttype test struct {\n\t\tactual   interface{}\n"
        "\t\texpected interface{}\n\t}\n\ttests := []test{\n",
        "\t\t{ actual: {call}, expected: {expected} },\n",
        GO_LOOP,
    ),
    "java": Frame(
        "    }\n    public static void main(String[] args) {\n",
        "    assert(java.util.Objects.equals({call}, {expected}));\n",
        "    }\n\n}\n",
    ),
    "js": Frame(JS_HEAD, "  assert.deepEqual({call},{expected});\n", "}\n\ntest();\n"),
    "ts": Frame(
        "declare var require: any;\n" + JS_HEAD, "  assert.deepEqual({call},{expected});\n", "}\n\ntest();\n"
    ),
    "lua": Frame(
        "lu = require('luaunit')\n\nfunction test_humaneval()\n",
        "    lu.assertEquals({call}, {expected})\n",
        "end\n\nos.exit(lu.LuaUnit.run())\n",
    ),
    "php": Frame(
        "function test(): void {\n",
        '    if ({call} !== {expected}) { throw new Exception("Test failed!"); }\n',
        "}\n\ntest();\n",
    ),
    "pl": Frame(
        "use Test::Deep;\n\n\nsub testhumaneval {\n",
        "        if(eq_deeply({call},{expected})) {\n"
        '        print "ok!" }else{\n        exit 1;\n        }\n',
        "}\n\ntesthumaneval();\n",
    ),
    "r": Frame(
        "test_humaneval <- function() {\n",
        "    stopifnot(isTRUE(all.equal({call}, {expected})))\n",
        "}\ntest_humaneval()\n",
    ),
    "rb": Frame(
        "require 'test/unit'\nclass TestHumanEval < Test::Unit::TestCase\n  def test_examples\n"
        "    candidate = method(:{entry})\n",
        "    assert_equal({expected}, {call})\n",
        "  end\nend\n",
    ),
    "rs": Frame("}\n\nfn main() {\n", "    assert_eq!({call}, {expected});\n", "}\n"),
    "sh": Frame("}\n\nset -e\nrun_test() {\n", "    [[ {call} = {expected} ]]\n", "}\n\nrun_test\n"),
}

_RUBY_CALL = re.compile(r"^(\w+[?!]?)\.call\(")  # MultiPL-E's Ruby examples call `name.call(...)`


def check_program(solution: str, checks: Sequence[Check], language: str) -> str:
    """The solution followed by its checks in `language`'s test frame."""
    frame = FRAMES.get(language)
    if frame is None:
        raise UscdError(f"no example-check frame for {language}; known: {', '.join(sorted(FRAMES))}")
    entry = ""
    lines = []
    for check in checks:
        call = check.code
        if language == "rb" and (m := _RUBY_CALL.match(call)):
            entry, call = m.group(1), "candidate.call(" + call[m.end() :]
        lines.append(_fill(frame.check, call=call, expected=check.expected))
    head = _fill(frame.head, entry=entry or "itself")
    return solution.rstrip("\n") + "\n" + head + "".join(lines) + frame.tail


def _fill(template: str, **values: str) -> str:
    """`template` with each {name} replaced (not str.format: the frames are full of braces)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template
