"""Derive the *lame* prompt: the standard prompt with its input-output examples removed.

USCD contrasts the model's next-token distribution under the standard prompt with the one under
the lame prompt. The lame prompt must differ from the standard one only in the *example*
material (doctests, "Example:" blocks, arrow examples, Input/Output pairs, MBPP asserts, and the
same inside comments of other languages); every other byte is kept. See docs/lame-prompts.md for
the rules and the choices made on ambiguous text.

Everything here is pure: no model, no I/O.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from uscd.errors import UscdError

__all__ = [
    "KINDS",
    "LANGUAGES",
    "LameResult",
    "Removal",
    "derive",
    "normalize_language",
]

# What a removed piece of text was; the labels are part of the public record.
KINDS = (
    "doctest",  # `>>> call` lines, their `...` continuations and expected output
    "example-heading",  # "Example:", "For example:", "Examples", "Example 1:" ... that lead examples
    "arrow-example",  # `f(3) ➞ 5`, `f(3) => 5`, `f(3) == 5`, `f(3) returns 5` ...
    "io-pair",  # `Input: ...` / `Output: ...`
    "explanation",  # "Explanation: ..." that belongs to a removed example
    "example",  # other lines inside an example block (worked values, `arr = [...]`, comments on them)
    "assert",  # MBPP-style `assert f(...) == ...`
    "eg-sentence",  # an "e.g." / "for example," sentence that shows a call with its result
    "blank",  # blank lines inside or closing a removed block
)


@dataclass(frozen=True)
class Removal:
    """One removed span of the standard prompt.

    ``start``/``end`` are character offsets into the standard prompt (half-open);
    ``first_line``/``last_line`` are 0-based line numbers (inclusive). ``partial`` is True when
    only part of a line went (the rest holds a docstring or comment delimiter).
    """

    kind: str
    start: int
    end: int
    first_line: int
    last_line: int
    text: str
    partial: bool = False

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "text": self.text,
            "partial": self.partial,
        }


@dataclass(frozen=True)
class LameResult:
    """The lame prompt and what was cut from the standard prompt to get it."""

    standard: str
    lame: str
    language: str
    removals: tuple[Removal, ...] = field(default_factory=tuple)

    @property
    def is_noop(self) -> bool:
        """True when nothing was removed: USCD cannot change anything on this prompt."""
        return self.lame == self.standard

    def removed_lines(self) -> frozenset[int]:
        """0-based numbers of the standard prompt's lines that were removed whole."""
        return frozenset(
            n for r in self.removals if not r.partial for n in range(r.first_line, r.last_line + 1)
        )

    def kinds(self) -> dict[int, str]:
        """Line number -> kind, for every line touched by a removal."""
        return {n: r.kind for r in self.removals for n in range(r.first_line, r.last_line + 1)}

    def to_dict(self) -> dict:
        return {
            "language": self.language,
            "is_noop": self.is_noop,
            "lame": self.lame,
            "removals": [r.to_dict() for r in self.removals],
        }


# --------------------------------------------------------------------------------------------
# Languages: where the prose lives (docstrings, comments)

_ALIASES = {
    "py": "python",
    "python3": "python",
    "javascript": "js",
    "node": "js",
    "typescript": "ts",
    "c++": "cpp",
    "cxx": "cpp",
    "c": "cpp",
    "csharp": "cs",
    "c#": "cs",
    "golang": "go",
    "rust": "rs",
    "bash": "sh",
    "shell": "sh",
    "ruby": "rb",
    "perl": "pl",
    "racket": "rkt",
    "ocaml": "ml",
    "haskell": "hs",
    "julia": "jl",
    "ex": "elixir",
    "exs": "elixir",
    "plain": "text",
    "txt": "text",
}


@dataclass(frozen=True)
class _Syntax:
    line_markers: tuple[str, ...] = ()  # line comments, longest first
    blocks: tuple[tuple[str, str], ...] = ()  # block comments / docstrings: (open, close)
    quotes: tuple[str, ...] = ('"',)  # string delimiters skipped in code (same line only)
    line_blocks: tuple[tuple[str, str], ...] = ()  # blocks whose markers stand alone on a line


_C_LIKE = _Syntax(line_markers=("//",), blocks=(("/*", "*/"),))
_SYNTAX: dict[str, _Syntax] = {
    "python": _Syntax(line_markers=("#",), blocks=(('"""', '"""'), ("'''", "'''")), quotes=('"', "'")),
    "js": _Syntax(line_markers=("//",), blocks=(("/*", "*/"),), quotes=('"', "'", "`")),
    "ts": _Syntax(line_markers=("//",), blocks=(("/*", "*/"),), quotes=('"', "'", "`")),
    "cpp": _C_LIKE,
    "java": _C_LIKE,
    "cs": _C_LIKE,
    "go": _Syntax(line_markers=("//",), blocks=(("/*", "*/"),), quotes=('"', "`")),
    "rs": _C_LIKE,
    "swift": _C_LIKE,
    "scala": _C_LIKE,
    "d": _Syntax(line_markers=("//",), blocks=(("/*", "*/"), ("/+", "+/"))),
    "php": _Syntax(line_markers=("//", "#"), blocks=(("/*", "*/"),), quotes=('"', "'")),
    "sh": _Syntax(line_markers=("#",), quotes=('"', "'")),
    "pl": _Syntax(line_markers=("#",), quotes=('"', "'"), line_blocks=(("=pod", "=cut"),)),
    "r": _Syntax(line_markers=("#",), quotes=('"', "'")),
    "rb": _Syntax(line_markers=("#",), quotes=('"', "'"), line_blocks=(("=begin", "=end"),)),
    "elixir": _Syntax(line_markers=("#",), blocks=(('"""', '"""'),)),
    "jl": _Syntax(line_markers=("#",), blocks=(('"""', '"""'), ("#=", "=#"))),
    "lua": _Syntax(line_markers=("--",), blocks=(("--[[", "]]"),), quotes=('"', "'")),
    "hs": _Syntax(line_markers=("--",), blocks=(("{-", "-}"),)),
    "ml": _Syntax(blocks=(("(*", "*)"),)),
    "rkt": _Syntax(line_markers=(";",), blocks=(("#|", "|#"),)),
    "text": _Syntax(),
}

LANGUAGES: tuple[str, ...] = tuple(sorted(_SYNTAX))


def normalize_language(language: str) -> str:
    """Canonical language key ("python", "js", "cpp", ...); UscdError for an unknown one."""
    key = (language or "").strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _SYNTAX:
        raise UscdError(f"unknown prompt language {language!r}; known: {', '.join(LANGUAGES)}")
    return key


@dataclass
class _Line:
    """One line of the prompt and the part of it that is prose (docstring or comment text)."""

    index: int
    start: int  # offset of the line in the prompt
    end: int  # offset of the end of the line, before its "\n"
    text_start: int = -1  # prose region on this line; -1: a code line
    text_end: int = -1
    whole: bool = False  # the line holds nothing but prose (+ comment markers, indentation)
    region: int = -1  # which run of prose lines it belongs to
    content: str = ""  # prose with comment decoration stripped
    indent: int = 0
    code: str = ""  # the whole line, for code lines

    @property
    def is_text(self) -> bool:
        return self.text_start >= 0

    @property
    def s(self) -> str:
        return self.content.strip()


def _split_lines(prompt: str) -> list[_Line]:
    lines, pos = [], 0
    for i, raw in enumerate(prompt.split("\n")):
        lines.append(_Line(index=i, start=pos, end=pos + len(raw), code=raw))
        pos += len(raw) + 1
    return lines


def _scan_regions(prompt: str, syntax: _Syntax) -> list[tuple[int, int, bool]]:
    """Character spans of comment / docstring contents (delimiters excluded), with a flag that
    says whether the span is a line comment (runs of those on adjacent lines form one region)."""
    spans: list[tuple[int, int, bool]] = []
    i, n = 0, len(prompt)
    bol = True  # at beginning of a line (ignoring indentation)
    while i < n:
        ch = prompt[i]
        if ch == "\n":
            i, bol = i + 1, True
            continue
        if ch in " \t\r":
            i += 1
            continue
        if bol:
            lb = _match_line_block(prompt, i, syntax)
            if lb is not None:
                spans.append((lb[0], lb[1], False))
                i = max(lb[1], i + 1)
                continue
        bol = False
        block = next((b for b in syntax.blocks if prompt.startswith(b[0], i)), None)
        if block is not None:
            close = prompt.find(block[1], i + len(block[0]))
            if close >= 0 and block[1] in ('"""', "'''"):
                while prompt.startswith(block[1][0], close + 3):
                    close += 1  # `"abc""""`: a quoted value right before the closing quotes
            stop = n if close < 0 else close
            spans.append((i + len(block[0]), stop, False))
            i = n if close < 0 else close + len(block[1])
            continue
        marker = next((m for m in syntax.line_markers if prompt.startswith(m, i)), None)
        if marker is not None:
            eol = prompt.find("\n", i)
            eol = n if eol < 0 else eol
            j = i + len(marker)
            while j < eol and prompt[j] == marker[-1]:
                j += 1  # `///`, `;;`, `---`: the run of marker characters is all marker
            spans.append((j, eol, True))
            i = eol
            continue
        if ch in syntax.quotes:
            i = _skip_string(prompt, i, ch)
            continue
        i += 1
    return spans


def _match_line_block(prompt: str, i: int, syntax: _Syntax) -> tuple[int, int] | None:
    for opener, closer in syntax.line_blocks:
        if prompt.startswith(opener, i) and prompt[i + len(opener) : i + len(opener) + 1] in ("", "\n", " "):
            body = prompt.find("\n", i)
            if body < 0:
                return (len(prompt), len(prompt))
            m = re.compile(rf"^{re.escape(closer)}\b", re.M).search(prompt, body + 1)
            return (body + 1, m.start() if m else len(prompt))
    return None


def _skip_string(prompt: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(prompt) and prompt[j] != "\n":
        if prompt[j] == "\\":
            j += 2
            continue
        if prompt[j] == quote:
            return j + 1
        j += 1
    return j


_DECORATION = re.compile(r"^(\s*)(?:\*(?![)/*])\s?)?")


def _annotate(prompt: str, language: str) -> list[_Line]:
    lines = _split_lines(prompt)
    starts = [ln.start for ln in lines]
    text_only = language == "text"
    spans = [(0, len(prompt), False)] if text_only else _scan_regions(prompt, _SYNTAX[language])
    region, prev_line_comment = -1, -2
    for span_start, span_end, is_line_comment in spans:
        first = bisect.bisect_right(starts, span_start) - 1
        if not (is_line_comment and prev_line_comment == first - 1):
            region += 1
        for k in range(first, len(lines)):
            ln = lines[k]
            if ln.start > span_end:
                break
            if ln.is_text:  # two spans on one line (`/* a */ /* b */`): the first one counts
                continue
            ts, te = max(ln.start, span_start), min(ln.end, span_end)
            ln.text_start, ln.text_end = ts, te
            before, after = prompt[ln.start : ts], prompt[te : ln.end]
            ln.whole = _only_markers(before, language) and after.strip() == ""
            ln.region = region
            _set_content(ln, prompt[ts:te], language)
        whole = lines[first].whole if lines[first].region == region else False
        prev_line_comment = first if is_line_comment and whole else -2
    return lines


def _only_markers(before: str, language: str) -> bool:
    if before.strip() == "":
        return True
    syntax = _SYNTAX[language]
    stripped = before.strip()
    return any(stripped and set(stripped) <= set(m) for m in syntax.line_markers)


def _set_content(ln: _Line, text: str, language: str) -> None:
    text = text.rstrip("\r")
    if language in ("cpp", "java", "cs", "js", "ts", "go", "rs", "swift", "scala", "d", "php", "ml"):
        m = _DECORATION.match(text)
        text = m.group(1) + text[m.end() :] if m else text
    if language == "hs" and text.lstrip().startswith("|"):
        text = text.replace("|", " ", 1)
    ln.content = text.replace("\t", "    ")
    ln.indent = len(ln.content) - len(ln.content.lstrip())


# --------------------------------------------------------------------------------------------
# Line shapes

_HEADING_CORE = (
    r"(?:(?:for|some|see|here\s+(?:is|are)|an?)\s+)*"
    r"(?:examples?|exemples?|examble|samples?|illustrations?|test\s+cases?|usage|demo)"
    r"(?:\s*#?\d+)?"
)
_EXAMPLE_HEADING = re.compile(
    rf"^[*\-•]?\s*(?:{_HEADING_CORE}|\[?input\s*/\s*output\]?\s+samples?|for\s+instance|e\.?g\.?"
    r"|it\s+must\s+be\s+implemented\s+like\s+this)\s*[:.\-]*\s*$",
    re.I,
)
_HEADING_WITH_REST = re.compile(rf"^(?:{_HEADING_CORE}|for\s+instance)\s*[:\-]\s*(?P<rest>\S.*)$", re.I)
_TERMINATOR = re.compile(
    r"^(?:(?:notes?|constraints?|constrain|restrictions?|variables?|assumptions?|hints?|requirements?"
    r"|args|arguments|parameters|params|returns?|raises|complexity|follow[- ]up)\b\s*:"
    r"|[A-Z][\w/'-]*(?:\s+[\w/'-]+){0,2}\s*:\s*$)",
    re.I,
)
_IO_LABEL = re.compile(r"^(?:sample\s+|example\s+|expected\s+)?(?P<label>input|output)s?\s*:", re.I)
_EXPLANATION = re.compile(r"^explanation\s*:?", re.I)
_PROSE = re.compile(r"^[A-Za-z][\w'’-]*,?\s+[A-Za-z][\w'’-]*[,;]?\s+[A-Za-z\"'(]")
_BULLET = re.compile(r"^(?:[*•]|-(?!\d|>))\s+")
_CALL_START = re.compile(
    r"^(?:assert\s+|for\s+|print\s*\(\s*|\$\(\s*)?\(?\s*(?P<name>[A-Za-z_$][\w$]*(?:(?:\.|::)[A-Za-z_$][\w$]*)*)\s*(?P<open>[(\[])"
)
_RESULT_MARK = re.compile(
    r"^\s*(?:==>|===|==|=>|->|-->|➞|→|⇒|=(?!=)|returns?\b|should\s+(?:be|return|give|output)\b"
    r"|gives?\b|yields?\b|outputs?\b|evaluates?\s+to\b|#\s*(?:=>|->|returns?\b|=)|//\s*(?:=>|->|returns?\b))",
    re.I,
)
_FOR_EXAMPLE_LINE = re.compile(r"^for\s+[A-Za-z_]\w*\s*=.*\b(?:output|result|answer|return)", re.I)
_FOR_EXAMPLE_LOOSE = re.compile(r"^for\s+[A-Za-z_]\w*\s*=", re.I)
_EG_LINE = re.compile(r"^(?:e\.\s?g\.?|eg\.|for\s+example|for\s+instance)\s*[,:]?\s+", re.I)
# words that may appear in the arguments of an example call (constructors, constants)
_LITERAL_WORDS = frozenset(
    re.findall(
        r"\w+",
        "True False None true false null nil undefined NaN Infinity inf nan list vec array c new std "
        "vector long float double int string String Array List ArrayList Arrays asList Float Long "
        "Integer Double Some Nothing Just Optional make map Map HashMap tuple Tuple",
    )
)
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def _net_brackets(text: str) -> int:
    """Opening minus closing brackets in `text`, string literals skipped (a rough measure)."""
    stripped = _STRING.sub("", text)
    return sum(stripped.count(c) for c in "([{") - sum(stripped.count(c) for c in ")]}")


def _call(s: str) -> tuple[str, str, str] | None:
    """(name, args, rest-after-call) when `s` starts with a call; args may be cut off at line end."""
    m = _CALL_START.match(_BULLET.sub("", s))
    if not m:
        return None
    body = _BULLET.sub("", s)
    i, depth = m.end("open") - 1, 0
    quote = ""
    for j in range(i, len(body)):
        ch = body[j]
        if quote:
            if ch == "\\":
                continue
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return m.group("name"), body[i + 1 : j], body[j + 1 :]
    return m.group("name"), body[i + 1 :], ""


def _literal_args(args: str) -> bool:
    words = re.findall(r"(?<![\w.])[A-Za-z_]\w*", _STRING.sub('""', args))
    return all(w in _LITERAL_WORDS for w in words)


def _call_result(s: str) -> bool:
    """`f(3) == 5`, `f(3) ➞ 5`, `f(3) returns 5`, `assert f(3) == 5` ..."""
    found = _call(s)
    if not found:
        return False
    _, _, rest = found
    rest = rest.lstrip(")").lstrip()
    return bool(_RESULT_MARK.match(rest)) and len(rest) > 1


def _is_prose(s: str) -> bool:
    return bool(_PROSE.match(s)) and not _FOR_EXAMPLE_LOOSE.match(s) and not _call_result(s)


def _heading_kind(s: str) -> str:
    """`full`: a bare example heading; `rest`: a heading with the example on the same line."""
    if _EXAMPLE_HEADING.match(s):
        return "full"
    m = _HEADING_WITH_REST.match(s)
    if m and _example_like(m.group("rest")):
        return "rest"
    return ""


def _example_like(s: str) -> bool:
    s = _BULLET.sub("", s)
    return (
        s.startswith(">>>") or _call_result(s) or bool(_FOR_EXAMPLE_LINE.match(s)) or bool(_IO_LABEL.match(s))
    )


def _shape_kind(s: str) -> str:
    s2 = _BULLET.sub("", s)
    if s2.startswith(">>>"):
        return "doctest"
    if re.match(r"^assert\b", s2):
        return "assert"
    if _call_result(s2) or _FOR_EXAMPLE_LINE.match(s2):
        return "arrow-example"
    if _IO_LABEL.match(s2):
        return "io-pair"
    return "example"


# --------------------------------------------------------------------------------------------
# The classifier: a small state machine over the lines of one prose region


class _Region:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.kind: dict[int, str] = {}  # position in `lines` -> kind
        self.headings: list[int] = []  # positions of bare example headings seen
        self.section: int | None = None  # indent of the open example section, None: none open

    # -- helpers
    def _blank(self, i: int) -> bool:
        """A blank prose line; a line holding only a docstring delimiter is not blank."""
        return not self.lines[i].s and self.lines[i].whole

    def _next_nonblank(self, i: int) -> int:
        while i < len(self.lines) and self._blank(i):
            i += 1
        return i

    def _prev_nonblank(self, i: int) -> int:
        i -= 1
        while i >= 0 and self._blank(i):
            i -= 1
        return i

    def _mark(self, i: int, j: int, kind: str) -> None:
        for k in range(i, j):
            self.kind.setdefault(k, kind)

    def _continuation_end(self, i: int, depth: int) -> int:
        """End (exclusive) of a logical line that starts at i with `depth` brackets left open."""
        j = i + 1
        while depth > 0 and j < len(self.lines) and self.lines[j].s:
            if self.lines[j].s.startswith(">>>"):
                break
            depth += _net_brackets(self.lines[j].s)
            j += 1
        return j

    def _logical_end(self, i: int) -> int:
        return self._continuation_end(i, _net_brackets(self.lines[i].s))

    # -- the pieces
    def _doctest_end(self, i: int) -> int:
        """End (exclusive) of the doctest starting at `>>>` line i: source, `...`, expected output."""
        lines, n = self.lines, len(self.lines)
        j = self._continuation_end(i, _net_brackets(lines[i].s[3:]))
        while j < n and lines[j].s.startswith("...") and lines[j].s[3:4] in ("", " "):
            j += 1
        first, depth = True, 0
        while j < n:
            s = lines[j].s
            if not s or s.startswith(">>>") or _heading_kind(s) or _TERMINATOR.match(s):
                break
            if _IO_LABEL.match(s) or _EXPLANATION.match(s):
                break
            if not first and depth <= 0 and (_is_prose(s) or lines[j].indent < lines[i].indent):
                break
            depth = depth + _net_brackets(s) if depth > 0 else _net_brackets(s)
            first = False
            j += 1
        return j

    def _explanation_end(self, i: int) -> int:
        lines, n = self.lines, len(self.lines)
        base = lines[i].indent
        open_text = _EXPLANATION.sub("", lines[i].s).strip()
        j = i + 1
        prev = open_text
        while j < n:
            s = lines[j].s
            if not s or s.startswith(">>>") or _heading_kind(s) or _TERMINATOR.match(s) or _IO_LABEL.match(s):
                break
            if lines[j].indent > base:
                prev = s
                j += 1
                continue
            if lines[j].indent < base or _call_result(s) or (prev and prev[-1] in ".!?"):
                break
            prev = s
            j += 1
        return j

    def _io_end(self, i: int) -> int:
        lines, n = self.lines, len(self.lines)
        base = lines[i].indent
        j = self._logical_end(i)
        while j < n and lines[j].s and lines[j].indent > base and not _IO_LABEL.match(lines[j].s):
            j += 1
        return j

    def _run_is_definition(self, i: int) -> bool:
        """A run of `f(x) = ...` lines that define the function (non-literal args), not examples."""
        prev = self._prev_nonblank(i)
        after_colon = prev == i - 1 >= 0 and self.lines[prev].s.endswith(":")
        if after_colon and not _heading_kind(self.lines[prev].s):
            return True  # "defined as follows:\n f(0) = 1": a definition, not examples
        j = i
        while j < len(self.lines) and _call_result(self.lines[j].s):
            found = _call(_BULLET.sub("", self.lines[j].s))
            if found and not _literal_args(found[1]):
                return True
            j = self._logical_end(j)
        return False

    # -- main loop
    def classify(self) -> dict[int, str]:
        i, n = 0, len(self.lines)
        while i < n:
            i = self._step(i)
        self._resolve_headings()
        self._sweep_blanks()
        return self.kind

    def _step(self, i: int) -> int:
        ln = self.lines[i]
        s = ln.s
        if not s:
            return i + 1
        if self.section is not None and ln.indent < self.section:
            self.section = None
        after_blank = i > 0 and self._blank(i - 1)
        if self.section is not None and after_blank and ln.indent <= self.section and not _example_like(s):
            self.section = None  # a blank line, then text at the heading's level: the block is over
        if s.startswith(">>>"):
            j = self._doctest_end(i)
            self._mark(i, j, "doctest")
            return j
        heading = _heading_kind(s)
        if heading:
            self.section = ln.indent
            if heading == "full":
                self.headings.append(i)
                return i + 1
            self._mark(i, i + 1, "arrow-example")
            return i + 1
        if _IO_LABEL.match(s) and (self.section is not None or self._io_pair_follows(i)):
            j = self._io_end(i)
            self._mark(i, j, "io-pair")
            self.section = ln.indent if self.section is None else self.section
            return j
        if _EXPLANATION.match(s) and (self.section is not None or self._prev_removed(i)):
            j = self._explanation_end(i)
            self._mark(i, j, "explanation")
            return j
        if self.section is not None:
            return self._in_section(i)
        return self._outside(i)

    def _in_section(self, i: int) -> int:
        s = self.lines[i].s
        if _TERMINATOR.match(s) and not _example_like(s):
            self.section = None
            return i + 1
        if _is_prose(s) and not _EG_LINE.match(s):
            if not s.endswith(":"):
                self.section = None
            return i + 1
        j = self._logical_end(i)
        self._mark(i, j, _shape_kind(s))
        return j

    def _outside(self, i: int) -> int:
        s = _BULLET.sub("", self.lines[i].s)
        if re.match(r"^assert\b", s) and _call(s[6:].strip()):
            j = self._logical_end(i)
            self._mark(i, j, "assert")
            return j
        if _EG_LINE.match(s) and _mentions_call_result(s):
            j = self._logical_end(i)
            self._mark(i, j, "eg-sentence")
            return j
        if (_call_result(s) or _FOR_EXAMPLE_LINE.match(s)) and not self._run_is_definition(i):
            j = self._logical_end(i)
            self._mark(i, j, _shape_kind(s))
            self.section = self.lines[i].indent
            return j
        if _call_result(s):  # a definition run: skip it whole
            j = i
            while j < len(self.lines) and _call_result(self.lines[j].s):
                j = self._logical_end(j)
            return j
        return i + 1

    def _io_pair_follows(self, i: int) -> bool:
        """An `Input:` line outside an example block counts only when an `Output:` follows it."""
        m = _IO_LABEL.match(self.lines[i].s)
        if not m or m.group("label").lower() != "input":
            return False
        j = self._next_nonblank(self._io_end(i))
        return j < len(self.lines) and bool(_IO_LABEL.match(self.lines[j].s))

    def _prev_removed(self, i: int) -> bool:
        p = self._prev_nonblank(i)
        return p >= 0 and p in self.kind

    # -- finishing
    def _resolve_headings(self) -> None:
        for h in self.headings:
            nxt = self._next_nonblank(h + 1)
            if nxt < len(self.lines) and nxt in self.kind:
                self.kind[h] = "example-heading"
        # a heading followed only by removed headings (a chain "Examples:\nExample 1:") goes too
        for h in reversed(self.headings):
            nxt = self._next_nonblank(h + 1)
            if nxt < len(self.lines) and self.kind.get(nxt) == "example-heading":
                self.kind[h] = "example-heading"

    def _sweep_blanks(self) -> None:
        n = len(self.lines)
        for i in range(n):
            if not self._blank(i) or i in self.kind:
                continue
            p, q = self._prev_nonblank(i), self._next_nonblank(i)
            inside = p >= 0 and p in self.kind and q < n and q in self.kind
            if inside:  # between two removed lines
                self.kind[i] = "blank"
        # blank lines after a removed block that itself followed a blank line: the block's own
        # separator goes with it, so the kept text keeps exactly one separator
        for i in range(n):
            if not self._blank(i) or i in self.kind:
                continue
            p = self._prev_nonblank(i)
            if p >= 0 and p in self.kind and self._block_opened_after_blank(p):
                q = self._next_nonblank(i)
                if q >= n or q not in self.kind:
                    self.kind[i] = "blank"

    def _block_opened_after_blank(self, p: int) -> bool:
        """Does the removed block ending at line p start right after a kept blank line?"""
        k = p
        while k >= 0 and (k in self.kind or self._blank(k)):
            if k not in self.kind:
                return True
            k -= 1
        return k < 0  # the block opens the region


def _mentions_call_result(s: str) -> bool:
    rest = _EG_LINE.sub("", s)
    return _call_result(rest)


# --------------------------------------------------------------------------------------------
# Putting it together


def _regions(lines: list[_Line]) -> Iterable[list[_Line]]:
    current: list[_Line] = []
    for ln in lines:
        if not ln.is_text:
            continue
        if current and ln.region != current[-1].region:
            yield current
            current = []
        current.append(ln)
    if current:
        yield current


def _code_asserts(lines: list[_Line]) -> dict[int, str]:
    """Python `assert f(...)` statements at module level (MBPP prompts written as code)."""
    out: dict[int, str] = {}
    i = 0
    while i < len(lines):
        ln = lines[i]
        if not ln.is_text and re.match(r"^assert\s", ln.code) and _call(ln.code[6:].strip()):
            depth = _net_brackets(ln.code)
            out[i] = "assert"
            j = i + 1
            while depth > 0 and j < len(lines) and not lines[j].is_text:
                depth += _net_brackets(lines[j].code)
                out[j] = "assert"
                j += 1
            i = j
            continue
        i += 1
    return out


def derive(prompt: str, language: str = "python") -> LameResult:
    """The lame prompt for `prompt` written in `language` (a MultiPL-E key, "python" or "text").

    Only example material is removed, whole lines wherever possible; every other byte is kept.
    """
    lang = normalize_language(language)
    lines = _annotate(prompt, lang)
    kinds: dict[int, str] = {}
    for region in _regions(lines):
        for pos, kind in _Region(region).classify().items():
            kinds[region[pos].index] = kind
    if lang == "python":
        kinds.update({k: v for k, v in _code_asserts(lines).items() if k not in kinds})
    kinds.update(_inline_eg(prompt, lines, kinds))
    removals = _removals(prompt, lines, kinds)
    return LameResult(standard=prompt, lame=_apply(prompt, removals), language=lang, removals=removals)


_PAREN_EG = re.compile(r"\s*\((?:e\.\s?g\.?|for\s+example|for\s+instance)[,:]?\s", re.I)


def _inline_eg(prompt: str, lines: list[_Line], kinds: dict[int, str]) -> dict[int, str]:
    """Parenthesised "(e.g. f(3) == 5)" inside a kept prose line: recorded as a partial span."""
    out: dict[int, str] = {}
    for ln in lines:
        if not ln.is_text or ln.index in kinds:
            continue
        text = prompt[ln.text_start : ln.text_end]
        m = _PAREN_EG.search(text)
        if not m:
            continue
        open_at = text.index("(", m.start())
        close_at = _matching(text, open_at)
        if close_at < 0 or not _mentions_call_result(text[open_at + 1 : close_at].strip()):
            continue
        ln_span = (ln.text_start + m.start(), ln.text_start + close_at + 1)
        out[ln.index] = f"eg-sentence:{ln_span[0]}:{ln_span[1]}"
    return out


def _matching(text: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _removals(prompt: str, lines: list[_Line], kinds: dict[int, str]) -> tuple[Removal, ...]:
    pieces: list[Removal] = []
    for idx in sorted(kinds):
        ln, kind = lines[idx], kinds[idx]
        if ":" in kind:  # an inline span
            kind, a, b = kind.split(":")
            pieces.append(Removal(kind, int(a), int(b), idx, idx, prompt[int(a) : int(b)], partial=True))
        elif (ln.whole or not ln.is_text) and ln.end < len(prompt):
            pieces.append(Removal(kind, ln.start, ln.end + 1, idx, idx, prompt[ln.start : ln.end + 1]))
        elif ln.whole or not ln.is_text:  # the last line, no "\n" after it: take the one before
            start = ln.start - 1 if ln.start > 0 and (idx - 1) not in kinds else ln.start
            pieces.append(Removal(kind, start, ln.end, idx, idx, prompt[start : ln.end]))
        else:
            a, b = _partial_span(prompt, ln)
            if b > a:
                pieces.append(Removal(kind, a, b, idx, idx, prompt[a:b], partial=True))
    return _merge(pieces)


def _partial_span(prompt: str, ln: _Line) -> tuple[int, int]:
    """The prose on a line that also holds a delimiter; indentation before a closing one stays."""
    a, b = ln.text_start, ln.text_end
    if ln.text_start > ln.start and prompt[ln.start : ln.text_start].strip():
        return a, b  # opening delimiter on this line: drop the prose after it
    while a < b and prompt[a] in " \t":
        a += 1  # keep the indentation in front of a closing delimiter
    return a, b


def _merge(pieces: list[Removal]) -> tuple[Removal, ...]:
    merged: list[Removal] = []
    for p in pieces:
        last = merged[-1] if merged else None
        if (
            last is not None
            and not last.partial
            and not p.partial
            and last.kind == p.kind
            and last.end == p.start
            and last.last_line + 1 == p.first_line
        ):
            merged[-1] = Removal(
                last.kind, last.start, p.end, last.first_line, p.last_line, last.text + p.text
            )
        else:
            merged.append(p)
    return tuple(merged)


def _apply(prompt: str, removals: tuple[Removal, ...]) -> str:
    out, pos = [], 0
    for r in sorted(removals, key=lambda r: r.start):
        if r.start < pos:
            continue
        out.append(prompt[pos : r.start])
        pos = r.end
    out.append(prompt[pos:])
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Comparing two lame prompts of one standard prompt (e.g. ours against the USCD authors')

_INLINE_EXAMPLE = re.compile(
    r"\b(?:e\.\s?g\.|for\s+example|for\s+instance|example\s*,)(?!\s*[:.]?\s*$)", re.I
)


@dataclass(frozen=True)
class LameComparison:
    """How another lame prompt (`other`) differs from ours, in lines of the standard prompt.

    ``other_only``: standard lines `other` dropped and we keep; ``ours_only``: the reverse;
    ``rewritten``: `other`'s lines that are edits of kept lines (punctuation, re-flow);
    ``over_cut``: the part of ``other_only`` that is specification, not an inline example
    sentence ("e.g. ...", "For example, ...") — text a lame prompt should have kept.
    """

    other_only: tuple[str, ...]
    ours_only: tuple[str, ...]
    rewritten: tuple[str, ...]
    over_cut: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "other_only": list(self.other_only),
            "ours_only": list(self.ours_only),
            "rewritten": list(self.rewritten),
            "over_cut": list(self.over_cut),
        }


def compare_lame(standard: str, ours: LameResult, other: str) -> LameComparison:
    """Line-level differences between our lame prompt and `other`, both derived from `standard`."""
    std = [line.strip() for line in standard.split("\n")]
    oth = [line.strip() for line in other.strip().split("\n")]
    matcher = difflib.SequenceMatcher(a=std, b=oth, autojunk=False)
    in_other: set[int] = set()
    for a, _b, size in matcher.get_matching_blocks():
        in_other.update(range(a, a + size))
    added = [
        oth[j] for tag, _i1, _i2, j1, j2 in matcher.get_opcodes() if tag != "equal" for j in range(j1, j2)
    ]
    added = [line for line in added if line]
    ours_kept = set(range(len(std))) - ours.removed_lines()
    flat_other = " ".join(" ".join(oth).split())
    inline = _inline_example_lines(std)
    other_only, rewritten, over_cut = [], [], []
    for i in sorted(ours_kept - in_other):
        line = std[i]
        if not line or " ".join(line.split()) in flat_other:
            continue  # blank, or kept but re-flowed into another line
        near = max(added, key=lambda a, line=line: difflib.SequenceMatcher(a=line, b=a).ratio(), default="")
        if near and difflib.SequenceMatcher(a=line, b=near).ratio() >= 0.85:
            rewritten.append(near)
            continue
        other_only.append(line)
        if i not in inline:
            over_cut.append(line)
    ours_only = [std[i] for i in sorted(in_other - ours_kept) if std[i]]
    return LameComparison(tuple(other_only), tuple(ours_only), tuple(rewritten), tuple(over_cut))


def _inline_example_lines(lines: list[str]) -> set[int]:
    """Lines of a sentence that gives an inline example ("For example, ..."), to its full stop."""
    out, open_sentence = set(), False
    for i, line in enumerate(lines):
        if _INLINE_EXAMPLE.search(line):
            open_sentence = True
        if open_sentence:
            out.add(i)
            open_sentence = not line.rstrip().endswith((".", "!", "?")) and bool(line)
    return out
