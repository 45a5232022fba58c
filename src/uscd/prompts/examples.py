"""The prompt's own input-output examples as executable checks (for the `branch` method).

The examples are exactly the lines `uscd.prompts.lame.derive` removes from a prompt; each is turned
into one check, or listed as skipped with the reason. Three kinds of check:

- ``doctest``: a `>>>` example with its expected output, judged as Python's doctest judges it (the
  printed output plus the repr of the value against the expected text, no option flags). The
  examples are read from the prompt's source text as a reader sees it, not from the evaluated
  docstring: `"a\\nb"` in a docstring is the four characters a, backslash, n, b here (doctest
  would see a line break inside the string literal and fail on a SyntaxError).
- ``equals``: `f(x) ➞ y`, `f(x) == y`, `f(x) -> y`, `f(x) returns y`, `f(x) should return y`,
  `For x = ... the output should be y`, `Input: ... / Output: ...`: the call's value `== y`.
  Both sides must be Python literals (JSON's true/false/null are read as True/False/None).
- ``assert``: MBPP's `assert ...` line as it stands.

Pure: no model, no I/O, nothing is executed here (`ast` only parses). Python prompts here; MultiPL-E
prompts in MultiPL-E's languages with a check frame: uscd.prompts.examples_multipl_e.
"""

from __future__ import annotations

import ast
import doctest
import re
import textwrap
from dataclasses import asdict, dataclass, replace

from uscd.errors import UscdError
from uscd.prompts.lame import Removal, derive, normalize_language

MODES = ("doctest", "equals", "assert")


@dataclass(frozen=True)
class Check:
    """One executable example. ``line``: 1-based line of the prompt where it starts."""

    line: int
    kind: str  # the lame derivation's kind of the removed text it came from
    text: str  # the example as the prompt writes it
    mode: str  # one of MODES
    code: str  # doctest: the example's source; equals: the call; assert: the statement
    expected: str = ""  # doctest: the expected output; equals: the expected value's expression
    language: str = "python"  # the language code and expected are written in (MultiPL-E: its key)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Skipped:
    """Example text the derivation removed that could not be made a check, and why."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class Examples:
    checks: tuple[Check, ...]
    skipped: tuple[Skipped, ...]


def extract_checks(prompt: str, language: str = "python") -> Examples:
    """The checks of `prompt` (its examples only: nothing else is read)."""
    lang = normalize_language(language)
    if lang != "python":
        return _other_language(prompt, lang)
    entry = last_function(prompt)
    checks: list[Check] = []
    skipped: list[Skipped] = []
    for removal in derive(prompt, lang).removals:
        if removal.kind in ("blank", "example-heading", "explanation"):
            continue
        found, missed = _from_removal(removal, entry)
        checks.extend(found)
        skipped.extend(missed)
    return Examples(tuple(checks), tuple(skipped))


def _other_language(prompt: str, lang: str) -> Examples:
    from uscd.prompts import examples_multipl_e

    if lang not in examples_multipl_e.LANGUAGES:
        known = ", ".join(["python", *examples_multipl_e.LANGUAGES])
        raise UscdError(f"example checks are read from prompts in {known}, not {lang}")
    return examples_multipl_e.extract(prompt, lang)


def last_function(prompt: str) -> str | None:
    """The last top-level `def` of the prompt: the function an `Input:`/`For x =` example calls."""
    names = re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", prompt, re.M)
    return names[-1] if names else None


def _from_removal(removal: Removal, entry: str | None) -> tuple[list[Check], list[Skipped]]:
    if removal.kind == "doctest":
        return _doctests(removal), []
    if removal.kind == "io-pair":
        return _io_pair(removal, entry)
    checks, skipped = [], []
    for offset, text, shown in _logical_lines(removal.text):
        line = removal.first_line + 1 + offset
        check = _assert(text, removal.kind, line) or _equals(text, removal.kind, line, entry)
        if isinstance(check, Check):
            checks.append(replace(check, text=shown))
        else:
            skipped.append(Skipped(line, shown, check or "not a call with a result"))
    return checks, skipped


# -- doctest -----------------------------------------------------------------------------------


def _doctests(removal: Removal) -> list[Check]:
    text, raw = textwrap.dedent(removal.text), removal.text.splitlines()
    out = []
    for ex in doctest.DocTestParser().get_examples(text):
        shown = "\n".join(raw[ex.lineno : ex.lineno + _lines_of(ex)])
        line = removal.first_line + 1 + ex.lineno
        if not ex.want and _is_equality(ex.source):  # `>>> f(1) == 2`: meant as an assertion
            out.append(Check(line, "doctest", shown, "assert", f"assert {ex.source.strip()}"))
        else:
            out.append(Check(line, "doctest", shown, "doctest", ex.source, ex.want))
    return out


def _is_equality(source: str) -> bool:
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return False
    return isinstance(tree, ast.Compare) and len(tree.ops) == 1 and isinstance(tree.ops[0], ast.Eq)


def _lines_of(example: doctest.Example) -> int:
    return example.source.count("\n") + example.want.count("\n")


# -- one-line forms --------------------------------------------------------------------------

_BULLET = re.compile(r"^(?:[*•]|-(?!\d|>))\s+")
_EG = re.compile(r"^\(?\s*(?:e\.\s?g\.?|eg\.|for\s+example|for\s+instance)\s*[,:]?\s*", re.I)
# the marks between a call and its result, longest first; `=` alone only when not part of another
_MARK = re.compile(
    r"(==>|-->|===|==|=>|->|➞|→|⇒|#\s*(?:=>|->|returns?\b|=)|\breturns?\b|\bshould\s+(?:be|return|give|output)\b"
    r"|\bgives?\b|\byields?\b|\boutputs?\b|\bevaluates?\s+to\b|(?<![=<>!])=(?!=))",
    re.I,
)
_FOR_X = re.compile(
    r"^for\s+(?P<inputs>[A-Za-z_]\w*\s*=.+?),?\s+(?:the\s+)?(?:output|result|answer|return(?:\s+value)?)\s+"
    r"(?:should\s+be|is|will\s+be)\s+(?P<expected>.+)$",
    re.I,
)
_JSON_WORDS = {"true": "True", "false": "False", "null": "None"}


def _logical_lines(text: str) -> list[tuple[int, str, str]]:
    """(line offset, the text on one line, the lines as the prompt has them) of each logical line: a
    line is joined with the next while its brackets stay open."""
    out: list[tuple[int, str, str]] = []
    first, parts = 0, []
    lines = text.splitlines()
    for i, raw in enumerate(lines):
        if not parts and not raw.strip():
            continue
        if not parts:
            first = i
        parts.append(raw.strip())
        if _balanced(" ".join(parts)):
            out.append((first, " ".join(parts), "\n".join(lines[first : i + 1]).strip()))
            parts = []
    if parts:
        out.append((first, " ".join(parts), "\n".join(lines[first:]).strip()))
    return out


def _balanced(s: str) -> bool:
    depth = 0
    for ch in re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'", "", s):
        depth += ch in "([{"
        depth -= ch in ")]}"
    return depth <= 0


def _assert(text: str, kind: str, line: int) -> Check | None:
    """A line that is a Python assert statement as it stands (MBPP)."""
    s = _BULLET.sub("", text)
    if not s.startswith("assert"):
        return None
    try:
        tree = ast.parse(s)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    return Check(line, kind, text, "assert", s)


def _equals(text: str, kind: str, line: int, entry: str | None) -> Check | str | None:
    """`call MARK expected` (any mark of `_MARK`), or `For x = v ... should be y`; a reason if not."""
    s = _EG.sub("", _BULLET.sub("", text)).rstrip(")") if _EG.match(text) else _BULLET.sub("", text)
    s = re.sub(r"^(?:assert|for)\s+(?=[A-Za-z_]\w*\s*\()", "", s)
    m = _FOR_X.match(s)
    if m:
        if entry is None:
            return "no function in the prompt to call"
        call = _named_inputs(entry, m.group("inputs"))
        if call is None:
            return "the inputs are not `name = literal` pairs"
        return _pair(call, m.group("expected"), text, kind, line)
    reason = None
    for mark in _MARK.finditer(s):
        check = _pair(s[: mark.start()], s[mark.end() :], text, kind, line)
        if isinstance(check, Check):
            return check
        reason = reason or check
    return reason


def _named_inputs(entry: str, inputs: str) -> str | None:
    """`entry(v1, v2)` from `s = v1, c = v2[, prose]`: the longest run of `name = literal` pairs."""
    parts = _top_level_split(inputs)
    for k in range(len(parts), 0, -1):
        call = _positional(entry, ", ".join(parts[:k]))
        if _literal_call(call):
            return call
    return None


def _top_level_split(text: str) -> list[str]:
    """`text` split at the commas outside brackets and string literals."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote and text[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def _pair(call: str, expected: str, text: str, kind: str, line: int) -> Check | str:
    call = call.strip()
    if not _literal_call(call):
        return "not a call of a function on literal arguments"
    cleaned = _clean_expected(expected)
    # a remark after the value: `'No' (the name should start with a letter)`
    value = _literal(cleaned) or _literal(re.sub(r"\s+\([^()]*\)$", "", cleaned))
    if value is None:
        return "the expected result is not a Python literal"
    return Check(line, kind, text, "equals", call, value)


def _clean_expected(text: str) -> str:
    s = re.sub(r"\s+#.*$", "", text.strip())  # a comment after the value
    if re.search(r"(?<![=<>!])=(?!=)", s):  # worked arithmetic: `19 - 5 - 6 = 8`
        s = re.split(r"(?<![=<>!])=(?!=)", s)[-1]
    return s.strip().rstrip(".").strip()


def _literal(text: str) -> str | None:
    """`text` if it is a Python literal; with JSON's true/false/null read as Python's; else None."""
    for candidate in (text, re.sub(r"\b(true|false|null)\b", lambda m: _JSON_WORDS[m.group(1)], text)):
        try:
            ast.literal_eval(candidate)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return candidate
    return None


def _literal_call(call: str) -> bool:
    """`name(literal, ..., key=literal)`: nothing but the function's name is looked up."""
    try:
        node = ast.parse(call, mode="eval").body
    except SyntaxError:
        return False
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return False
    args = [*node.args, *(k.value for k in node.keywords)]
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        return False
    try:
        for arg in args:
            ast.literal_eval(arg)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _positional(entry: str, args: str) -> str:
    """`entry(v1, v2)` from `arr = v1, k = v2`: the prompt's names for the inputs are not always the
    parameters' (HumanEval/115 says `bucket_capacity` for `capacity`), their order is."""
    try:
        node = ast.parse(f"f({args})", mode="eval").body
    except SyntaxError:
        return f"{entry}({args})"
    assert isinstance(node, ast.Call)
    values = [*node.args, *(k.value for k in node.keywords)]
    return f"{entry}({', '.join(ast.unparse(v) for v in values)})"


# -- Input: / Output: ------------------------------------------------------------------------

_LABEL = re.compile(r"^\s*(?:sample\s+|example\s+|expected\s+)?(input|output)s?\s*:\s*", re.I | re.M)


def _io_pair(removal: Removal, entry: str | None) -> tuple[list[Check], list[Skipped]]:
    line, text = removal.first_line + 1, removal.text.strip()
    parts = _LABEL.split(removal.text)
    fields = {label.lower(): body.strip() for label, body in zip(parts[1::2], parts[2::2], strict=True)}
    if entry is None:
        return [], [Skipped(line, text, "no function in the prompt to call")]
    if "input" not in fields or "output" not in fields:
        return [], [Skipped(line, text, "an Input: without its Output: (or the reverse)")]
    args = ", ".join(
        re.sub(r"^([A-Za-z_]\w*)\s*:\s*", r"\1=", ln.strip())
        for ln in fields["input"].splitlines()
        if ln.strip()
    )
    check = _pair(_positional(entry, args), fields["output"], text, removal.kind, line)
    if isinstance(check, str):
        return [], [Skipped(line, text, check)]
    return [check], []
