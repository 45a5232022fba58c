"""Held-out tests of a MultiPL-E problem: its test program less the assertions that call the tested
function on an input one of the prompt's translated examples shows (uscd.prompts.examples_multipl_e).

MultiPL-E's tests are one assertion per line (Perl's are an `if … { } else { exit 1; }` block, kept
whole by balancing its braces), calling the function as `candidate(…)`, `$candidate->(…)`,
`candidate.call(…)`, `$(candidate …)` or by its own name (Java). An assertion is *leaked* when the
arguments of such a call equal an example's arguments with every blank removed (so a difference in
spacing cannot hide a leak; two inputs that differ only in blanks count as one — the split errs
towards dropping). Pure: text only, nothing is executed.
"""

from __future__ import annotations

import re

from uscd.prompts.examples_multipl_e import LANGUAGES
from uscd.tasks.base import Problem

_CALLEE = r"(?:\$candidate->|\bcandidate\b|\b(?:{entry})\b)"
_DEFINITION = re.compile(r"^\s*(function|def|sub|fn|func)\b|^\s*candidate\(\)\s*\{")
_NOT_INPUTS = {"", "()", "(...$args)"}  # PHP's `candidate(...$args)` wrapper passes, it does not test
_BLANKS = re.compile(r"\s+")


def supported(problem: Problem) -> bool:
    return problem.language in LANGUAGES


def example_calls(problem: Problem) -> tuple[set[str], set[str]]:
    """The names the prompt's examples call and their arguments (blanks removed)."""
    from uscd.prompts.examples import extract_checks

    names, found = set(), set()
    for check in extract_checks(problem.prompt, problem.language).checks:
        code = check.code[2:] if check.code.startswith("$(") else check.code
        name = re.match(r"\w+", code)
        if name:
            names.add(name.group())
            found.add(_key(_arguments(code, name.end(), check.code.startswith("$("))))
    return names, found


def split(problem: Problem) -> tuple[str, int, tuple[str, ...]]:
    """(held-out test tail, assertions kept, assertions dropped) of a MultiPL-E problem."""
    names, leaked = example_calls(problem)
    # Java's tests call the method by its camelCase name
    camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), problem.entry_point)
    called = sorted({problem.entry_point, camel, *names})
    callee = re.compile(_CALLEE.format(entry="|".join(map(re.escape, called))))
    lines = problem.program_tail.split("\n")
    out: list[str] = []
    dropped: list[str] = []
    kept, i = 0, 0
    while i < len(lines):
        inputs = set() if _DEFINITION.match(lines[i]) else _tested_inputs(lines[i], callee)
        if not inputs:
            out.append(lines[i])
            i += 1
            continue
        end = _block_end(lines, i)
        block = lines[i : end + 1]
        if inputs & leaked:
            dropped.append("\n".join(block))
        else:
            out.extend(block)
            kept += 1
        i = end + 1
    return "\n".join(out), kept, tuple(dropped)


def _tested_inputs(line: str, callee: re.Pattern) -> set[str]:
    found = set()
    for m in callee.finditer(line):
        in_shell = line[: m.start()].endswith("$(")
        if (
            m.group().startswith("$candidate")
            or in_shell
            or line[m.end() :].lstrip().startswith(("(", ".call("))
        ):
            found.add(_key(_arguments(line, m.end(), in_shell)))
    return found - _NOT_INPUTS


def _arguments(text: str, start: int, in_shell: bool) -> str:
    """The call's arguments from `start` (just after the called name): a bracketed group (after
    Ruby's `.call`), or in Bash everything up to the `)` that closes `$(`."""
    rest = text[start:]
    if in_shell:
        return rest[: _close(rest, 1)]
    stripped = rest.lstrip()
    if stripped.startswith(".call"):
        stripped = stripped[5:]
    if not stripped.startswith("("):
        return ""
    return stripped[: _close(stripped[1:], 1) + 2]


def _close(text: str, depth: int) -> int:
    """Index in `text` of the bracket that brings `depth` to 0 (quotes respected), else len(text)."""
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(text)


def _block_end(lines: list[str], i: int) -> int:
    """The last line of the assertion starting at line i: where its braces balance again."""
    depth = _balance(lines[i])
    j = i
    while depth > 0 and j + 1 < len(lines):
        j += 1
        depth += _balance(lines[j])
    return j


def _balance(line: str) -> int:
    return sum(1 if c == "{" else -1 for c in _outside_quotes(line) if c in "{}")


def _outside_quotes(line: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', "", line)


def _key(arguments: str) -> str:
    return _BLANKS.sub("", arguments)
