"""How numbers read in the report's text and tables (shared by the data's verdicts and the renderers)."""

from __future__ import annotations

from typing import Any


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x * 100:.{digits}f}%"


def ci_text(ci: list | None) -> str:
    return "–" if not ci else f"[{pct(ci[0])}, {pct(ci[1])}]"


def signed_pts(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:+.1f} pts"


def ci_pts(ci: list | None) -> str:
    return "–" if ci is None else f"[{signed_pts(ci[0])}, {signed_pts(ci[1])}]"


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_p(p: float) -> str:
    return f"p {p_text(p)}" if p < 0.001 else f"p = {p_text(p)}"


def fmt_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
