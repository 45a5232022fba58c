"""A MultiPL-E prompt's examples as checks in the prompt's own language (for the `branch` method).

MultiPL-E translates HumanEval's `>>>` examples into each language's syntax inside its comment
block (`// >>> fib((10))` / `// (55)` in C++, `# >>> $(fib "10")` / `# "55"` in Bash). Exactly the
lines `uscd.prompts.lame.derive` removes as kind ``doctest`` are read: each `>>>` line is a call,
the first comment line after it its expected value (later lines are the example's untranslated
Python comment). Examples of the other kinds (`f(x) ➞ y` prose) are
left untranslated by MultiPL-E, so they are skipped. uscd.search.frames turns the checks into a
program of the language's test style (MultiPL-E's own assertion forms).

Pure: no model, no I/O, nothing is executed here.
"""

from __future__ import annotations

import re

from uscd.prompts.examples import Check, Examples, Skipped
from uscd.prompts.lame import derive

# the languages uscd.search.frames has a test frame for (MultiPL-E's 12 required ones)
LANGUAGES = ("cpp", "go", "java", "js", "lua", "php", "pl", "r", "rb", "rs", "sh", "ts")
MODE = "call"  # a check whose code is a call and whose expected is a value, in the prompt's language
_COMMENT = re.compile(r"^\s*(///|//|--|#)\s?")
_QUOTED = re.compile(r'^"[^"]*"$')  # Bash: a value is one double-quoted string


def extract(prompt: str, language: str) -> Examples:
    """The checks of a MultiPL-E prompt in `language` (a canonical key such as "cpp")."""
    checks: list[Check] = []
    skipped: list[Skipped] = []
    for removal in derive(prompt, language).removals:
        if removal.kind in ("blank", "example-heading", "explanation"):
            continue
        if removal.kind != "doctest":
            skipped.append(Skipped(removal.first_line + 1, removal.text, "not translated to the language"))
            continue
        found, missed = _examples(removal.text, removal.first_line + 1, language)
        checks.extend(found)
        skipped.extend(missed)
    return Examples(tuple(checks), tuple(skipped))


def _examples(text: str, first_line: int, language: str) -> tuple[list[Check], list[Skipped]]:
    pairs: list[tuple[int, str, list[str]]] = []  # (line, call, expected lines)
    for offset, raw in enumerate(text.splitlines()):
        line = _COMMENT.sub("", raw, count=1).rstrip()
        if line.startswith(">>>"):
            pairs.append((first_line + offset, line[3:].strip(), []))
        elif pairs and line.strip():
            pairs[-1][2].append(line.strip())
    checks, skipped = [], []
    for line, call, expected_lines in pairs:
        # MultiPL-E writes a value on one line; what follows it is the example's untranslated comment
        expected = expected_lines[0] if expected_lines else ""
        shown = f">>> {call}\n{expected}"
        if why := _unusable(call, expected, language):
            skipped.append(Skipped(line, shown, why))
        else:
            checks.append(Check(line, "doctest", shown, MODE, call, expected, language))
    return checks, skipped


def _unusable(call: str, expected: str, language: str) -> str:
    if not call or not expected:
        return "no call or no expected value"
    if language == "sh" and not (call.startswith("$(") and _QUOTED.match(expected)):
        # MultiPL-E writes Bash list results as Python lists (['"a"', '"b"']); its tests compare text
        return "expected value is not one quoted string"
    return ""
