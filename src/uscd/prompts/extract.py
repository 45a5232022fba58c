"""The code in a chat reply: the right fenced block, then (Python) only the code the tests need.

In the spirit of evalplus's sanitizer (``evalplus/sanitize.py``, v0.3.1), written on Python's own
``ast`` instead of tree-sitter: evalplus's ``sanitize`` cannot be imported without its data
module (wget, appdirs, tempdir ...) and tree-sitter, and its ``code_extract`` parses every line
span of the reply (quadratic in lines, fences ignored). Here:

1. Fenced blocks are found (an unterminated one runs to the end of the reply). Of the blocks in
   the task's language (or untagged), the first that defines the entry point wins, else the
   longest; with no fence at all the whole reply is the candidate.
2. Python: a candidate that does not parse is cut to its longest span of lines that does (as
   evalplus does). Then, as evalplus keeps them, top-level imports, functions, classes and
   assignments are kept - with the entry point defined, only those it reaches - and everything
   else (prints, calls, asserts, ``if __name__ == "__main__":`` blocks, loops) is dropped.
   Unlike evalplus, a function without a ``return`` is kept.
3. Other languages: the block as written.

An empty result means *no code found*.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
_PYTHON_TAGS = ("", "python", "py", "python3")
_MAX_SPAN_LINES = 400  # the span search is quadratic; longer candidates are cut to this

# task language -> fence tags that mean it (besides the untagged fence)
_TAGS = {
    "python": _PYTHON_TAGS,
    "js": ("javascript", "js"),
    "ts": ("typescript", "ts"),
    "cpp": ("cpp", "c++", "c"),
    "cs": ("csharp", "cs", "c#"),
    "rs": ("rust", "rs"),
    "sh": ("bash", "sh", "shell"),
    "rb": ("ruby", "rb"),
    "pl": ("perl", "pl"),
    "hs": ("haskell", "hs"),
    "jl": ("julia", "jl"),
    "ml": ("ocaml", "ml"),
    "rkt": ("racket", "rkt", "scheme"),
}


@dataclass(frozen=True)
class Block:
    info: str  # the fence's language tag, lower-cased ("" when untagged)
    text: str
    closed: bool


def fenced_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a markdown text, in order; an unclosed one runs to the end."""
    blocks: list[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opened = _FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        fence, info = opened.group("fence"), opened.group("info").lower()
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                closed = True
                break
            body.append(lines[i])
            i += 1
        blocks.append(Block(info, "\n".join(body), closed))
        i += 1
    return blocks


def extract_code(reply: str, entry_point: str | None = None, language: str = "python") -> str:
    """The code of a reply that the test program is built from ("" when there is none)."""
    language = "python" if language == "py" else language
    candidate = _pick_block(reply, entry_point, language)
    if language != "python":
        return candidate.strip("\n")
    return sanitize_python(candidate, entry_point)


def _pick_block(reply: str, entry_point: str | None, language: str) -> str:
    blocks = fenced_blocks(reply)
    if not blocks:
        return reply
    tags = _TAGS.get(language, (language,))
    ours = [b for b in blocks if b.info in tags or b.info == ""] or blocks
    if entry_point:
        defining = [b for b in ours if _defines(b.text, entry_point, language)]
        if defining:
            return defining[0].text
    return max(ours, key=lambda b: len(b.text.strip())).text


def _defines(code: str, name: str, language: str) -> bool:
    if language == "python":
        return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None
    return re.search(rf"\b{re.escape(name)}\b", code) is not None


# ----------------------------------------------------------------------------------------------
# Python


def sanitize_python(code: str, entry_point: str | None = None) -> str:
    """Imports and the definitions the entry point needs, in their order; "" when nothing parses."""
    tree, source = _parse_or_longest_span(code, entry_point)
    if tree is None:
        return ""
    lines = source.split("\n")
    imports: list[ast.stmt] = []
    definitions: list[tuple[str, ast.stmt]] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            definitions.append((node.name, node))
        elif isinstance(node, ast.Assign | ast.AnnAssign) and _assigned_name(node):
            definitions.append((_assigned_name(node), node))
    names = {name for name, _ in definitions}
    keep = _reachable(entry_point, definitions) if entry_point in names else names
    kept = imports + [node for name, node in definitions if name in keep]
    kept.sort(key=lambda n: (not isinstance(n, ast.Import | ast.ImportFrom), n.lineno))
    return "\n".join(_source_of(node, lines) for node in kept)


def _parse_or_longest_span(code: str, entry_point: str | None) -> tuple[ast.Module | None, str]:
    code = code.strip("\n")
    tree = _parse(code)
    if tree is not None:
        return tree, code
    span = longest_parsing_span(code.split("\n")[:_MAX_SPAN_LINES], entry_point)
    return (_parse(span), span) if span.strip() else (None, "")


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: null bytes
        return None


def longest_parsing_span(lines: list[str], entry_point: str | None = None) -> str:
    """The span of lines with the most non-blank lines that parses (evalplus's code_extract),
    preferring spans that define the entry point; spans start at unindented lines."""
    best: tuple[bool, int] = (False, 0)
    best_span = ""
    counts = [0]
    for line in lines:
        counts.append(counts[-1] + bool(line.strip()))
    starts = [i for i, line in enumerate(lines) if line.strip() and not line[0].isspace()]
    for i in starts:
        for j in range(len(lines), i, -1):
            size = counts[j] - counts[i]
            if (True, size) <= best:
                break
            span = "\n".join(lines[i:j])
            if _parse(span) is None:
                continue
            score = (bool(entry_point) and _defines(span, entry_point, "python"), size)
            if score > best:
                best, best_span = score, span
            break
    return best_span


def _assigned_name(node: ast.Assign | ast.AnnAssign) -> str:
    target = node.targets[0] if isinstance(node, ast.Assign) else node.target
    return target.id if isinstance(target, ast.Name) else ""


def _reachable(entry_point: str, definitions: list[tuple[str, ast.stmt]]) -> set[str]:
    uses: dict[str, set[str]] = {}
    for name, node in definitions:
        uses.setdefault(name, set()).update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
    seen, queue = {entry_point}, [entry_point]
    while queue:
        for used in uses.get(queue.pop(), ()):
            if used in uses and used not in seen:
                seen.add(used)
                queue.append(used)
    return seen


def _source_of(node: ast.stmt, lines: list[str]) -> str:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    end = node.end_lineno or node.lineno
    return "\n".join(lines[first - 1 : end])
