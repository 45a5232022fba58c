"""`uscd lame show|audit`: look at lame prompts, and compare ours with the USCD authors'."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any

from uscd.errors import UscdError
from uscd.prompts.lame import compare_lame, derive, normalize_language
from uscd.tasks import TASKS, get_task
from uscd.tasks.base import Problem
from uscd.tasks.humaneval import load_official_lame, official_lame_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lame", help="show lame prompts; audit them against the authors' ones")
    sub = parser.add_subparsers(dest="lame_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    show = sub.add_parser("show", help="standard and lame prompt side by side, removed lines highlighted")
    show.add_argument("task_id", metavar="TASK_ID", help="e.g. HumanEval/0, 0, 11 (MBPP), HumanEval_0_... ")
    show.add_argument("--task", default="humaneval", help=f"one of: {', '.join(TASKS[:3])}, multipl-e-<lang>")
    show.add_argument("--data", metavar="PATH", help="dataset file to read instead of the default")
    show.add_argument("--lame-source", choices=("derived", "official"), help="humaneval only")
    show.add_argument("--official", metavar="PATH", help="the authors' human_eval_neg.jsonl")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=cmd_show)

    audit = sub.add_parser("audit", help="compare our lame prompts with the USCD authors' (HumanEval)")
    audit.add_argument("task", metavar="TASK", help="humaneval (the authors released no others)")
    audit.add_argument("--official", metavar="PATH", help="the authors' human_eval_neg.jsonl")
    audit.add_argument("--data", metavar="PATH", help="HumanEval file to read instead of the packaged one")
    audit.add_argument("--all", action="store_true", help="list every task, not only those that differ")
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    audit.set_defaults(func=cmd_audit)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# --------------------------------------------------------------------------------------------
# show


def cmd_show(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {"data": args.data}
    if args.lame_source or args.official:
        if args.task != "humaneval":
            raise UscdError("--lame-source/--official apply to --task humaneval only")
        options["lame_source"] = args.lame_source or "official"
        options["official_path"] = args.official
    problem = get_task(args.task, **options).problem(args.task_id)
    rows = _aligned_rows(problem)
    if args.json:
        print(json.dumps(_show_record(args.task, problem), indent=2, ensure_ascii=False))
        return 0
    _print_show(args.task, problem, rows)
    return 0


def _kinds(problem: Problem) -> dict[int, str]:
    """Line -> removal kind, when the lame prompt is ours (derived) for this prompt."""
    result = derive(problem.prompt, normalize_language(problem.language))
    return result.kinds() if result.lame == problem.lame_prompt else {}


def _aligned_rows(problem: Problem) -> list[tuple[str | None, str | None, str]]:
    """(standard line, lame line, tag) rows; tag: "" same, a removal kind, "added" or "changed"."""
    std = problem.prompt.split("\n")
    lame = (problem.lame_prompt if problem.lame_prompt is not None else problem.prompt).split("\n")
    kinds = _kinds(problem)
    rows: list[tuple[str | None, str | None, str]] = []
    matcher = difflib.SequenceMatcher(a=std, b=lame, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [(std[i], lame[j1 + k], "") for k, i in enumerate(range(i1, i2))]
            continue
        for i in range(i1, i2):
            rows.append((std[i], None, kinds.get(i, "removed")))
        for j in range(j1, j2):
            rows.append((None, lame[j], "changed" if i2 > i1 else "added"))
    return rows


def _show_record(task: str, problem: Problem) -> dict[str, Any]:
    result = derive(problem.prompt, normalize_language(problem.language))
    ours = result.lame == problem.lame_prompt
    return {
        "task": task,
        "task_id": problem.task_id,
        "language": problem.language,
        "lame_source": problem.meta.get("lame_source"),
        "is_noop": problem.lame_is_noop,
        "standard": problem.prompt,
        "lame": problem.lame_prompt,
        "removals": [r.to_dict() for r in result.removals] if ours else None,
    }


def _print_show(task: str, problem: Problem, rows: list[tuple[str | None, str | None, str]]) -> None:
    from rich.console import Console  # lazy: keeps `uscd --help` fast
    from rich.table import Table
    from rich.text import Text

    console = Console()
    source = problem.meta.get("lame_source", "?")
    title = f"{task} {problem.task_id}: standard vs lame ({source})"
    if problem.lame_is_noop:
        title += " — no examples found: lame == standard, USCD is a no-op here"
    table = Table(title=title, show_lines=False, expand=True, padding=(0, 1))
    table.add_column("standard", overflow="fold", ratio=1)
    table.add_column("lame", overflow="fold", ratio=1)
    table.add_column("removed as", no_wrap=True, style="dim")
    for left, right, tag in rows:
        style = "red" if right is None else ("green" if left is None else "")
        table.add_row(
            Text(left if left is not None else "", style=style),
            Text(right if right is not None else "", style=style),
            Text(tag),
        )
    console.print(table)
    removed = sum(1 for left, right, _ in rows if right is None)
    console.print(f"{removed} line(s) removed, {sum(1 for left, _, _ in rows if left is None)} added/changed")


# --------------------------------------------------------------------------------------------
# audit


def cmd_audit(args: argparse.Namespace) -> int:
    if args.task.strip().lower() != "humaneval":
        raise UscdError(
            f"audit supports humaneval only (the authors released no lame prompts for {args.task!r})"
        )
    path = official_lame_path(args.official)
    official = load_official_lame(str(path))
    problems = get_task("humaneval", data=args.data).problems()
    entries = [_audit_entry(p, official) for p in problems]
    summary = _summary(entries, str(path))
    if args.json:
        print(json.dumps({"summary": summary, "tasks": entries}, indent=2, ensure_ascii=False))
        return 0
    _print_audit(entries, summary, show_all=args.all)
    return 0


def _audit_entry(problem: Problem, official: dict[str, str]) -> dict[str, Any]:
    if problem.task_id not in official:
        raise UscdError(f"the official lame file has no prompt for {problem.task_id}")
    ours = derive(problem.prompt, "python")
    other = official[problem.task_id]
    cmp = compare_lame(problem.prompt, ours, other)
    return {
        "task_id": problem.task_id,
        "ours_noop": ours.is_noop,
        "official_noop": other.strip() == problem.prompt.strip(),
        "official_drops_we_keep": list(cmp.other_only),
        "we_drop_official_keeps": list(cmp.ours_only),
        "official_rewrites": list(cmp.rewritten),
        "official_over_cut": list(cmp.over_cut),
    }


def _summary(entries: list[dict[str, Any]], path: str) -> dict[str, Any]:
    over = [e for e in entries if e["official_over_cut"]]
    return {
        "official_file": path,
        "tasks": len(entries),
        "over_cut_tasks": len(over),
        "over_cut_task_ids": [e["task_id"] for e in over],
        "official_drops_we_keep_tasks": sum(1 for e in entries if e["official_drops_we_keep"]),
        "we_drop_official_keeps_tasks": sum(1 for e in entries if e["we_drop_official_keeps"]),
        "official_rewrite_tasks": sum(1 for e in entries if e["official_rewrites"]),
        "noop_ours": [e["task_id"] for e in entries if e["ours_noop"]],
        "noop_official": [e["task_id"] for e in entries if e["official_noop"]],
    }


def _differs(entry: dict[str, Any]) -> bool:
    keys = ("official_drops_we_keep", "we_drop_official_keeps", "official_rewrites")
    return any(entry[k] for k in keys)


def _print_audit(entries: list[dict[str, Any]], summary: dict[str, Any], show_all: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    table = Table(title="HumanEval lame prompts: ours vs the USCD authors'", expand=True, show_lines=True)
    table.add_column("task", no_wrap=True)
    table.add_column("official drops, we keep", overflow="fold", ratio=3)
    table.add_column("we drop, official keeps", overflow="fold", ratio=2)
    table.add_column("official rewrites", overflow="fold", ratio=2)
    for e in entries:
        if not show_all and not _differs(e):
            continue
        over = set(e["official_over_cut"])
        dropped = Text()
        for line in e["official_drops_we_keep"]:
            dropped.append(line + "\n", style="bold red" if line in over else "yellow")
        table.add_row(
            e["task_id"],
            dropped,
            Text("\n".join(e["we_drop_official_keeps"])),
            Text("\n".join(e["official_rewrites"])),
        )
    console.print(table)
    console.print(
        f"{summary['tasks']} tasks; the official lame prompts over-cut {summary['over_cut_tasks']} "
        "(drop specification text, red; yellow: inline example sentences); "
        f"they drop lines we keep in {summary['official_drops_we_keep_tasks']}, we drop lines they "
        f"keep in {summary['we_drop_official_keeps_tasks']}, "
        f"they reword {summary['official_rewrite_tasks']}; "
        f"no-op tasks: ours {', '.join(summary['noop_ours']) or 'none'}, "
        f"official {', '.join(summary['noop_official']) or 'none'}"
    )
