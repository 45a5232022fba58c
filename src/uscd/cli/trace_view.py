"""Rich rendering of a generation: the completion coloured token by token, and a step table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from uscd.engine import Generation
from uscd.methods import Rule

# "contrasted": the rule's extra signal entered the choice (the lame or masked prompt's logits, or
# AdaDec's rollouts); "uncertain": the gate opened (always, for the rules without a gate)
LEGEND = (
    ("contrasted, same token as greedy", "on dark_blue"),
    ("contrasted, token changed", "bold white on red"),
    ("uncertain, no contrast needed", "underline"),
    ("fallback to the standard distribution", "bold magenta"),
)


def style_for(t) -> str:
    if t.fallback:
        return "bold magenta"
    if t.contrast:
        return "bold white on red" if t.changed else "on dark_blue"
    if t.uncertain:
        return "underline"
    return ""


def print_warnings(warnings: list[str]) -> None:
    err = Console(stderr=True)
    for w in warnings:
        err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)


def coloured_completion(gen: Generation) -> Text:
    text = Text()
    for t in gen.trace:
        text.append(t.text, style=style_for(t))
    # the trace holds every chosen token; the completion may end earlier, at a stop sequence
    if len(text.plain) > len(gen.completion):
        text = text[: len(gen.completion)]
    return text


def step_table(gen: Generation, limit: int = 40) -> Table:
    table = Table(title="uncertain steps", show_lines=False, header_style="bold")
    for col in ("step", "chosen", "greedy", "uncertainty", "|V_head|", "contrast"):
        table.add_column(col, justify="right" if col in ("step", "uncertainty", "|V_head|") else "left")
    shown = [t for t in gen.trace if t.uncertain or t.fallback][:limit]
    for t in shown:
        greedy = "same" if not t.changed else repr(t.greedy_text)
        table.add_row(
            str(t.step),
            repr(t.text),
            greedy,
            "-" if t.uncertainty is None else f"{t.uncertainty:.4f}",
            "-" if t.head_size is None else str(t.head_size),
            ("fallback" if t.fallback else "yes" if t.contrast else "no"),
        )
    return table


def print_generation(prompt: str, gen: Generation, rule: Rule, *, show_trace: bool) -> None:
    out = Console()
    if show_trace:
        out.print(Text(prompt, style="dim"), end="")
        out.print(coloured_completion(gen))
        out.print()
        legend = Text("legend: ")
        for label, style in LEGEND:
            legend.append(label, style=style)
            legend.append("  ")
        out.print(legend)
        if any(t.uncertain for t in gen.trace):
            out.print(step_table(gen))
    else:
        out.print(gen.completion, markup=False, highlight=False)
    changed = sum(t.changed for t in gen.trace)
    tps = len(gen.tokens) / gen.decode_s if gen.decode_s > 0 else 0.0
    Console(stderr=True).print(
        f"[dim]{rule.name}: {len(gen.tokens)} tokens ({gen.finish_reason}), {tps:.1f} tok/s; "
        f"uncertain {gen.uncertain_steps}/{gen.steps}, contrast {gen.contrast_steps}/{gen.steps} "
        f"({gen.contrast_rate:.1%}), changed vs greedy {changed}, fallbacks {gen.fallback_steps}, "
        f"lame syncs {gen.lame_syncs}[/dim]",
        highlight=False,
    )


def print_search(search: dict) -> None:
    """A program search (branch, filter): the first program's checks, every other program tried,
    what was kept and why."""
    err = Console(stderr=True)
    a = search.get("a_checks") or {}
    err.print(
        f"[dim]{search['outcome']}: {search['checks']} checks from the prompt "
        f"({search['skipped_examples']} examples skipped); "
        + (f"A passed {a.get('passed', '-')}; " if "a_checks" in search else "")
        + f"{search['programs']} programs, {search['executions']} executions, "
        f"{search['tokens_decoded']} tokens decoded, {search['search_s']:.2f} s[/dim]",
        highlight=False,
    )
    if search["note"]:
        err.print(f"[dim]  {search['note']}[/dim]", highlight=False)
    for i, b in enumerate(search.get("branches", [])):
        verdict = b.get("kept") or b.get("dropped", "")
        if "error" in b:
            err.print(f"[dim]  {i}: step {b['step']}: {verdict}[/dim]", highlight=False)
            continue
        err.print(
            f"[dim]  {i}: step {b['step']} → {b['text']!r}: {b['checks']['passed']}/{b['checks']['checks']} "
            f"checks, {b['tokens']} tokens — {'kept' if b.get('kept') else 'dropped'}: {verdict}[/dim]",
            highlight=False,
        )
    for sample in search.get("samples", []):
        chosen = " — kept" if sample["sample"] == search["chosen"] else ""
        err.print(
            f"[dim]  sample {sample['sample']}: {sample['checks']['passed']}/{sample['checks']['checks']} "
            f"checks, {sample['tokens']} tokens{chosen}[/dim]",
            highlight=False,
        )


def print_code(code: str) -> None:
    """The code extracted from a chat reply, the program the tests would run against."""
    from rich.rule import Rule as Line

    out = Console()
    out.print(Line("extracted code" if code.strip() else "extracted code: none found"))
    if code.strip():
        out.print(code, markup=False, highlight=False)
