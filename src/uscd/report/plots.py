"""The report's figures, as PNG bytes that are the same on every call.

No pyplot (no global state, no GUI backend): a Figure on an Agg canvas, matplotlib's default style
whatever the user's matplotlibrc says, fixed sizes and dpi, and no Software/date metadata.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

from uscd.errors import UscdError

DPI = 100
BASE_COLOUR = "#8c8c8c"
METHOD_COLOUR = "#1f77b4"
CONTRAST_COLOUR = "#ff7f0e"
CHANGED_COLOUR = "#d62728"
MAX_LABELS = 12  # changed-token annotations per trace panel; more would overlap into noise
# the methods' bars in the per-language figure (the baseline's is BASE_COLOUR): tab10 less its grey
METHOD_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
)


def _matplotlib() -> Any:
    try:
        import matplotlib
        import matplotlib.style
    except ImportError:
        raise UscdError("plots need matplotlib: pip install 'uscd[plot]'") from None
    return matplotlib


def render(spec: Any) -> bytes:
    """PNG bytes of a `uscd.report.data.PlotSpec` (kind pass1, calibration, traces or languages)."""
    draw = {
        "pass1": pass1_figure,
        "calibration": calibration_figure,
        "traces": traces_figure,
        "languages": languages_figure,
    }[spec.kind]
    mpl = _matplotlib()
    with mpl.style.context("default"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font for exotic token text
        return png(draw(spec.title, spec.data))


def png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0))


def _integer_locator() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


# ----------------------------------------------------------------------------------------------
# pass@1 by method


def pass1_figure(title: str, points: list[dict]) -> Any:
    fig = _figure(max(6.0, 1.0 + 0.9 * len(points)), 4.0)
    ax = fig.add_subplot()
    xs = list(range(len(points)))
    ys = [p["pass@1"] for p in points]
    err = [
        [y - p["ci"][0] for y, p in zip(ys, points, strict=True)],
        [p["ci"][1] - y for y, p in zip(ys, points, strict=True)],
    ]
    colours = [BASE_COLOUR if p["baseline"] else METHOD_COLOUR for p in points]
    ax.bar(xs, ys, yerr=err, capsize=5, color=colours, width=0.6)
    for x, y, p in zip(xs, ys, points, strict=True):
        ax.text(x, p["ci"][1] + 0.02, f"{y:.1%}", ha="center", va="bottom", fontsize=9)
    rotate = len(points) > 4
    ax.set_xticks(
        xs, [p["name"] for p in points], rotation=30 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_ylim(0, 1.12)
    _percent_axis(ax.yaxis)
    ax.set_ylabel("pass@1 (95% CI)")
    ax.set_title(title, fontsize=11, parse_math=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------------------
# MultiPL-E: pass@1 per language, one bar per method


def languages_figure(title: str, data: dict) -> Any:
    languages, methods = data["languages"], data["methods"]
    fig = _figure(max(7.0, 1.5 + len(languages) * (0.22 * len(methods) + 0.3)), 4.5)
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    colours = iter(METHOD_COLOURS * (1 + len(methods) // len(METHOD_COLOURS)))
    for i, method in enumerate(methods):
        shown = [(x, p) for x, p in enumerate(method["points"]) if p is not None]
        ys = [p["pass@1"] for _, p in shown]
        err = [
            [y - p["ci"][0] for y, (_, p) in zip(ys, shown, strict=True)],
            [p["ci"][1] - y for y, (_, p) in zip(ys, shown, strict=True)],
        ]
        xs = [x - 0.4 + width * (i + 0.5) for x, _ in shown]
        colour = BASE_COLOUR if method["baseline"] else next(colours)
        ax.bar(xs, ys, width=width, yerr=err, capsize=2, color=colour, label=method["label"])
    ax.set_xticks(range(len(languages)), languages)
    ax.set_xlim(-0.6, len(languages) - 0.4)
    ax.set_ylim(0, 1.05)
    _percent_axis(ax.yaxis)
    ax.set_xlabel("language")
    ax.set_ylabel("pass@1 (95% CI)")
    ax.set_title(title, fontsize=11, parse_math=False)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------------
# calibration grid: trigger rate vs pass@1


def calibration_figure(title: str, points: list[dict]) -> Any:
    fig = _figure(7.5, 5.0)
    ax = fig.add_subplot()
    shown = [p for p in points if p["pass@1"] is not None and p["contrast_rate"] is not None]
    xs = [p["contrast_rate"] for p in shown]
    ys = [p["pass@1"] for p in shown]
    err = [
        [y - p["pass@1_ci95"][0] for y, p in zip(ys, shown, strict=True)],
        [p["pass@1_ci95"][1] - y for y, p in zip(ys, shown, strict=True)],
    ]
    ax.errorbar(xs, ys, yerr=err, fmt="o", color=METHOD_COLOUR, ecolor="#9ecae1", capsize=3)
    for i, (x, y, p) in enumerate(zip(xs, ys, shown, strict=True)):
        ax.annotate(
            p["label"],
            (x, y),
            xytext=(6, 6 if i % 2 == 0 else -12),
            textcoords="offset points",
            fontsize=8,
            parse_math=False,
        )
    ax.set_xlim(0, max([*xs, 0.05]) * 1.15 + 0.01)
    ax.set_ylim(0, 1.05)
    _percent_axis(ax.xaxis)
    _percent_axis(ax.yaxis)
    ax.set_xlabel("contrast (trigger) rate: contrasted steps / all steps")
    ax.set_ylabel("pass@1 (95% CI)")
    ax.set_title(title, fontsize=11, parse_math=False)
    ax.grid(alpha=0.3)
    return fig


# ----------------------------------------------------------------------------------------------
# per-token uncertainty traces


def readable(text: str, limit: int = 14) -> str | None:
    """The token text quoted on one line, or None when it would not render legibly."""
    shown = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    if not shown or not shown.isascii() or not shown.isprintable():
        return None
    return repr(shown if len(shown) <= limit else shown[: limit - 1] + "…").replace("\\\\", "\\")


def change_label(chosen: str, greedy: str) -> str:
    a, b = readable(chosen), readable(greedy)
    return f"{a} (greedy {b})" if a and b else ""


def traces_figure(title: str, data: dict) -> Any:
    cases = data["cases"]
    fig = _figure(11.0, 0.8 + 2.6 * len(cases))
    axes = fig.subplots(len(cases), 1, squeeze=False)[:, 0]
    for i, (ax, case) in enumerate(zip(axes, cases, strict=True)):
        trace_panel(ax, case, data.get("threshold"), legend=i == 0)
        ax.set_ylabel(data.get("measure") or "uncertainty")
    axes[-1].set_xlabel("step (generated token)")
    fig.suptitle(title, fontsize=11)
    return fig


CONTRAST_STYLE = dict(s=110, facecolors="none", edgecolors=CONTRAST_COLOUR, linewidths=1.3, zorder=3)
CHANGED_STYLE = dict(s=45, marker="X", color=CHANGED_COLOUR, zorder=4)
LABEL_STYLE = dict(textcoords="offset points", fontsize=7, color=CHANGED_COLOUR, parse_math=False)


def trace_panel(ax: Any, case: Any, threshold: float | None, *, legend: bool) -> None:
    values = [math.nan if u is None else float(u) for u in case.uncertainty]
    ax.plot(range(len(values)), values, color="#555555", lw=0.9, marker=".", ms=3, label="uncertainty")
    contrasted = [s for s, c in enumerate(case.contrast) if c and s < len(values)]
    ax.scatter(contrasted, [values[s] for s in contrasted], label="contrasted", **CONTRAST_STYLE)
    mark_changed_tokens(ax, case.changed, values)
    if threshold is not None:
        ax.axhline(threshold, color="#2ca02c", ls="--", lw=0.9, label=f"threshold {threshold:g}")
    end = max(len(values), 2) - 0.5
    if case.end_step is not None:
        ax.axvspan(case.end_step - 0.5, end, color="#dddddd", alpha=0.6, lw=0, label="past the completion")
    ax.set_xlim(-0.5, end)
    ax.xaxis.set_major_locator(_integer_locator())
    ax.set_title(case.title, fontsize=9, loc="left", parse_math=False)
    ax.grid(alpha=0.25)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7)


def mark_changed_tokens(ax: Any, changed: list[tuple[int, str, str]], values: list[float]) -> None:
    """A cross where the chosen token is not the greedy one, labelled with both texts when legible."""
    floor = min([v for v in values if not math.isnan(v)] or [0.0])
    points = [
        (s, values[s] if s < len(values) and not math.isnan(values[s]) else floor) for s, _, _ in changed
    ]
    ax.scatter([x for x, _ in points], [y for _, y in points], label="token ≠ greedy", **CHANGED_STYLE)
    for j, ((x, y), (_, chosen, greedy)) in enumerate(zip(points[:MAX_LABELS], changed, strict=False)):
        if label := change_label(chosen, greedy):
            ax.annotate(label, (x, y), xytext=(4, -12 - 9 * (j % 3)), **LABEL_STYLE)
