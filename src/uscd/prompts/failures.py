"""Why chat-mode programs failed: no code found, syntax error, wrong answer, runtime error, timeout."""

from __future__ import annotations

import re
from collections import Counter

KINDS = ("no code found", "syntax error", "wrong answer", "runtime error", "timeout", "other")
_SYNTAX = ("SyntaxError", "IndentationError", "TabError")
# a HumanEval+/MBPP+ reason names the suite and input before the exception
_SUITE_PREFIX = re.compile(r"^\w+: SuiteFailed: \w+ input \d+ of \d+: ")


def failure_kind(sample: dict, result: dict) -> str | None:
    """The kind of a failed program (None when it passed).

    "wrong answer" is a failed assert (the tests ran and disagreed); "runtime error" is any other
    exception (NameError for a missing function or import included).
    """
    if result.get("status") == "pass":
        return None
    if not str(sample.get("solution", "")).strip():
        return "no code found"
    if result.get("status") == "timeout":
        return "timeout"
    reason = _SUITE_PREFIX.sub("", str(result.get("reason", "")))
    if reason.startswith(_SYNTAX):
        return "syntax error"
    if reason.startswith("AssertionError"):
        return "wrong answer"
    if result.get("status") == "fail" and reason:
        return "runtime error"
    return "other"


def failure_breakdown(samples: list[dict], results: list[dict]) -> dict[str, int]:
    """Failed programs by kind (every kind listed, zeros included)."""
    by_key = {(s["task_id"], int(s["sample_idx"])): s for s in samples}
    counts = Counter(
        kind
        for r in results
        if (kind := failure_kind(by_key.get((r["task_id"], int(r["sample_idx"])), {}), r)) is not None
    )
    return {k: counts.get(k, 0) for k in KINDS}
