"""The report as one list of blocks that both renderers (Markdown, HTML) walk, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from uscd.report.data import BOOTSTRAP_SEED, EXTRA_OUTCOMES, OUTCOME_TITLES, STATUSES, group_title, task_text
from uscd.report.loader import slug
from uscd.report.overview import parts as overview_parts
from uscd.report.text import ci_pts, ci_text, fmt_p, p_text, pct, signed_pts


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "heading"
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    text: str


@dataclass(frozen=True)
class BulletList:
    kind: ClassVar[str] = "list"
    items: list[str]


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"
    head: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    kind: ClassVar[str] = "image"
    name: str  # the PNG's file name
    alt: str


@dataclass(frozen=True)
class Alert:
    """Something that makes numbers untrustworthy, shown where no reader can miss it."""

    kind: ClassVar[str] = "warning"
    text: str


Block = Heading | Paragraph | BulletList | Table | Image | Alert
Column = tuple[str, Callable[[dict], str]]


def blocks(data: dict) -> list[Block]:
    out: list[Block] = [Heading(1, "uscd report")]
    out += [Alert(text) for text in data["warnings"]]
    out.append(Paragraph(method_sentence(data)))
    out.extend(overview_blocks(data))
    out.extend(verdict_blocks(data))
    out += [Image(name, "pass@1 per MultiPL-E language") for name in data["overview"]["plots"]]
    for group in data["groups"]:
        out.extend(group_blocks(group, data["baseline"]))
    for grid in data.get("calibration_grid", []):
        out.extend(grid_blocks(grid))
    if data["notes"]:
        out += [Heading(2, "Notes"), BulletList(data["notes"])]
    return out


def method_sentence(data: dict) -> str:
    return (
        f"Baseline: `{data['baseline']}`. Differences are candidate minus baseline on the problems both "
        f"runs executed, tested at alpha = {data['alpha']}: exact McNemar test when every problem has one "
        "sample (CI exact, conditional on the discordant problems), otherwise a paired bootstrap over "
        f"problems (10,000 resamples, seed {BOOTSTRAP_SEED})."
    )


def overview_blocks(data: dict) -> list[Block]:
    """The whole report in one table: methods by task/model group, each cell pass@1 and the paired test."""
    table_data = data["overview"]
    if not table_data["rows"]:
        return []
    out: list[Block] = [
        Heading(2, "Overview"),
        Paragraph(
            "One row per method, one column per task · model (and, beside it, the same runs on the "
            "base/plus tests of HumanEval+/MBPP+ or on the held-out tests where they were scored): "
            f"pass@1, then, for a method paired with `{data['baseline']}`, the difference in points on "
            "the problems both executed and its p-value after the Holm correction below (p_H). An "
            "empty cell: the method did not run there; `not compared`: see the group's section."
        ),
    ]
    sections = overview_parts(data)
    if len(sections) == 1:
        head = ["method", *(c["title"] for c in table_data["columns"])]
        rows = [[row["label"], *map(overview_cell, row["cells"])] for row in table_data["rows"]]
        return [*out, Table(head, rows)]
    out.append(Paragraph("One table per model and kind of run, each with the methods that ran there:"))
    for part in sections:
        rows = [
            [row["label"], *(overview_cell(row["cells"][i]) for i in part["columns"])]
            for row in table_data["rows"]
            if any(row["cells"][i] for i in part["columns"])
        ]
        out += [Paragraph(f"**{part['title']}**"), Table(["method", *part["titles"]], rows)]
    return out


def overview_cell(entries: list[dict]) -> str:
    if len(entries) == 1:
        return overview_entry(entries[0])
    return "; ".join(f"{e['run']}: {overview_entry(e)}" for e in entries)


def overview_entry(entry: dict) -> str:
    """`44.5% (+2.4, p_H 0.900)`; the baseline's pass@1 alone."""
    text = pct(entry["pass@1"])
    if entry.get("baseline") or entry["pass@1"] is None:
        return text
    if not entry["paired"]:
        return f"{text} (not compared)"
    return f"{text} ({entry['difference'] * 100:+.1f}, p_H {p_text(entry['p_holm'])})"


def verdict_blocks(data: dict) -> list[Block]:
    if not data["method_verdicts"]:
        return []
    holm = data["holm"]
    family = f"{holm['tests']} paired test{'s' if holm['tests'] != 1 else ''}"
    scope = "every paired test of pass@1"
    included = [
        f"the {n} {what}"
        for n, what in (
            (holm["base_plus_tests"], "HumanEval+/MBPP+ base and plus tests"),
            (holm["heldout_tests"], "held-out test" + ("s" if holm["heldout_tests"] != 1 else "")),
        )
        if n
    ]
    if included:
        scope += f" ({' and '.join(included)} included)"
    return [
        Heading(2, f"Verdicts after Holm correction ({family})"),
        Paragraph(
            f"Holm's step-down correction over {scope} against `{data['baseline']}` in this report, all "
            f"groups together, at family-wise alpha = {holm['alpha']}: one line per method, where it is "
            "significantly better or worse than the baseline after the correction." + repeats_text(holm)
        ),
        BulletList([f"{v['label']}: {v['verdict']}" for v in data["method_verdicts"]]),
    ]


def repeats_text(holm: dict) -> str:
    n = holm["repeated_tests"]
    if not n:
        return ""
    return (
        f" {n} more test{'s' if n != 1 else ''} repeat{'s' if n == 1 else ''} one of the family exactly "
        "(same method, same per-problem outcomes, e.g. HumanEval's tests and HumanEval+'s base tests) "
        "and share its correction."
    )


def group_blocks(group: dict, baseline: str) -> list[Block]:
    runs = group["runs"]
    shas = sorted({str(r["dataset_sha256"])[:12] for r in runs})
    out: list[Block] = [
        Heading(2, group_title(group["task"], group["prompt_style"], group["model"])),
        Paragraph(
            f"Dataset sha256 {', '.join(f'`{s}`' for s in shas)}; model sha256 "
            f"`{str(group['model_sha256'])[:12]}`; {len(runs)} run(s)."
        ),
    ]
    out += [Alert(f"{r['name']}: {flag}") for r in runs for flag in r.get("environment_flags", [])]
    out += [
        Heading(3, "Methods"),
        table(method_columns(runs), runs),
        Image(
            f"pass1_{group['id']}.png", f"pass@1 by method, {task_text(group['task'], group['prompt_style'])}"
        ),
    ]
    if group["comparisons"]:
        out += [Heading(3, f"Versus {baseline}"), comparison_table(group["comparisons"])]
        out.extend(outcome_tables(group["comparisons"], baseline))
        for comp in group["comparisons"]:
            out.extend(comparison_blocks(comp, group))
    out += [Heading(3, "Runs"), table(RUN_COLUMNS, runs)]
    return out


METHOD_COLUMNS: tuple[Column, ...] = (
    ("method", lambda r: r["name"]),
    ("rule", lambda r: rule_text(r)),
    ("problems", lambda r: str(r["problems"])),
    ("samples/problem", lambda r: "–".join(str(n) for n in sorted(set(r["samples_per_problem"])))),
    ("pass@1", lambda r: pct(r["pass@1"])),
    ("95% CI", lambda r: ci_text(r["pass@1_ci95"])),
    ("pass@10", lambda r: pct(r["pass@10"])),
    ("pass/fail/timeout/error", lambda r: "/".join(str(r["statuses"].get(k, 0)) for k in STATUSES)),
    ("contrast rate", lambda r: pct(r["contrast_rate"])),
    ("mean new tokens", lambda r: f"{r['mean_new_tokens']:.1f}"),
    ("tok/s", lambda r: "–" if r["tokens_per_s"] is None else f"{r['tokens_per_s']:.1f}"),
)

COMPARISON_COLUMNS: tuple[Column, ...] = (
    ("method", lambda c: c["method"]),
    ("paired problems", lambda c: str(c["problems_paired"])),
    ("baseline pass@1", lambda c: pct(c["baseline_pass@1"])),
    ("method pass@1", lambda c: pct(c["candidate_pass@1"])),
    ("difference", lambda c: signed_pts(c["difference"])),
    ("95% CI", lambda c: ci_pts(c["difference_ci95"])),
    ("test", lambda c: c["test"]),
    ("p", lambda c: p_text(c["p_value"])),
    ("p (Holm)", lambda c: p_text(c["p_holm"])),
    ("changed", lambda c: "–" if c.get("changed_completions") is None else str(c["changed_completions"])),
    ("fail→pass", lambda c: str(len(c["fail_to_pass"]))),
    ("pass→fail", lambda c: str(len(c["pass_to_fail"]))),
    ("verdict", lambda c: c["verdict"]),
)

# the base/plus tests of the same runs: "changed" (the completions) would only repeat the main table
OUTCOME_COLUMNS: tuple[Column, ...] = tuple(c for c in COMPARISON_COLUMNS if c[0] != "changed")

GRID_COLUMNS: tuple[Column, ...] = (
    ("setting", lambda p: p["label"]),
    ("rule", lambda p: str(p["rule"])),
    ("contrast rate", lambda p: pct(p["contrast_rate"])),
    ("pass@1", lambda p: pct(p["pass@1"])),
    ("95% CI", lambda p: ci_text(p["pass@1_ci95"])),
    ("problems", lambda p: str(p["problems"])),
    ("config_hash", lambda p: f"`{p['config_hash']}`"),
)

RUN_COLUMNS: tuple[Column, ...] = (
    ("method", lambda r: r["name"]),
    ("config_hash", lambda r: f"`{r['config_hash']}`"),
    ("path", lambda r: f"`{r['path']}`"),
)


def method_columns(runs: list[dict]) -> tuple[Column, ...]:
    """The methods table, with base, plus (HumanEval+/MBPP+) and held-out pass@1 where runs have them."""
    extra = tuple(outcome_column(n) for n in EXTRA_OUTCOMES if any(n in r for r in runs))
    at = [name for name, _ in METHOD_COLUMNS].index("95% CI") + 1
    return METHOD_COLUMNS[:at] + extra + METHOD_COLUMNS[at:]


def outcome_column(name: str) -> Column:
    def cell(run: dict) -> str:
        stats = run.get(name)
        return "–" if stats is None else f"{pct(stats['pass@1'])} {ci_text(stats['pass@1_ci95'])}"

    return (f"{OUTCOME_TITLES[name].removesuffix(' tests')} pass@1 (95% CI)", cell)


def outcome_tables(comps: list[dict], baseline: str) -> list[Block]:
    """One table per extra outcome (base, plus tests) the paired runs carry."""
    out: list[Block] = []
    for name in EXTRA_OUTCOMES:
        rows = [c[name] | {"method": c["method"]} for c in comps if c.get(name, {}).get("paired")]
        if rows:
            out += [Heading(4, f"Versus {baseline}, {OUTCOME_TITLES[name]}"), table(OUTCOME_COLUMNS, rows)]
    return out


def table(columns: tuple[Column, ...], items: list[dict]) -> Table:
    return Table([name for name, _ in columns], [[cell(item) for _, cell in columns] for item in items])


def rule_text(run: dict) -> str:
    """The rule, and the temperature where the rule's scores are sampled from, not maximised."""
    t, rule = run.get("temperature"), str(run["rule"])
    if not t:
        return rule
    return f"sample, T {t:g}" if rule == "greedy" else f"{rule}, sampled at T {t:g}"


def comparison_table(comps: list[dict]) -> Table:
    paired = table(COMPARISON_COLUMNS, [c for c in comps if c.get("paired")])
    rows = list(paired.rows)
    for c in comps:
        if not c.get("paired"):
            blanks = ["–"] * (len(paired.head) - 3)
            rows.append(
                [c["method"], str(c.get("problems_paired", 0)), *blanks, f"not compared: {c['reason']}"]
            )
    return Table(paired.head, rows)


def comparison_blocks(comp: dict, group: dict) -> list[Block]:
    if not comp.get("paired"):
        return []
    up, down = (
        ("fail → pass", "pass → fail")
        if comp["test"] == "mcnemar-exact"
        else ("pass rate up", "pass rate down")
    )
    out: list[Block] = [
        Heading(4, f"{comp['method']} vs {comp['baseline']}"),
        Paragraph(
            f"{comp['method']}: {comp['verdict']}. Paired on {comp['problems_paired']} problems "
            f"(baseline executed {comp['problems_baseline']}, {comp['method']} "
            f"{comp['problems_candidate']})."
        ),
        BulletList(
            [
                f"{up} ({len(comp['fail_to_pass'])}): {', '.join(comp['fail_to_pass']) or 'none'}",
                f"{down} ({len(comp['pass_to_fail'])}): {', '.join(comp['pass_to_fail']) or 'none'}",
            ]
        ),
    ]
    if "pass@10" in comp:
        k10 = comp["pass@10"]
        text = f"{signed_pts(k10['difference'])} {ci_pts(k10['difference_ci95'])}"
        out.append(Paragraph(f"pass@10 difference: {text}, paired bootstrap {fmt_p(k10['p_value'])}."))
    name = f"traces_{group['id']}_{slug(comp['method'])}.png"
    if name in group["plots"]:
        out.append(Image(name, f"uncertainty traces, {comp['method']}"))
    return out


def grid_blocks(grid: dict) -> list[Block]:
    varying = ", ".join(grid["varying"]) or "nothing"
    return [
        Heading(2, f"Calibration grid: {group_title(grid['task'], grid['prompt_style'], grid['model'])}"),
        Paragraph(f"{len(grid['points'])} runs; settings that vary: {varying}."),
        table(GRID_COLUMNS, grid["points"]),
        Image(grid["plot"], "trigger rate vs pass@1"),
    ]
