"""The overview: every method (rows) in every task/model group (columns) of the report, in one table.

A cell holds a run's pass@1 and, for a method paired with the baseline, the paired difference and
its Holm-corrected p-value, all taken from the groups' rows and comparisons (so the overview can
never disagree with the sections below it). Groups whose runs carry base/plus (HumanEval+/MBPP+)
or held-out outcomes get one more column per outcome, next to the group's pass@1 column.

A report of several models or kinds of run is printed as one table per *part* (`parts`): a model's
Python runs with completion prompts, its chat runs, its MultiPL-E runs — each with the methods that
ran there — so the table stays readable; report.json keeps the one table.
"""

from __future__ import annotations

import re

from uscd.report.data import EXTRA_OUTCOMES, OUTCOME_TITLES, task_text
from uscd.report.loader import natural_key

PASS = "pass@1"  # the column of the runs' own tests


def overview(groups: list[dict], baseline: str, plots: list[str]) -> dict:
    """report.json's `overview` (call it after the Holm correction: cells carry `p_holm`)."""
    models = short_models([g["model"] for g in groups])
    columns = [
        {"group": g["id"], "outcome": outcome, "title": column_title(g, outcome, models[g["model"]])}
        for g in groups
        for outcome in group_outcomes(g)
    ]
    by_id = {g["id"]: g for g in groups}
    rows = [
        {"label": label, "cells": [cell(by_id[c["group"]], c["outcome"], label, baseline) for c in columns]}
        for label in method_labels(groups, baseline)
    ]
    return {"columns": columns, "rows": rows, "plots": plots}


def short_models(models: list[str]) -> dict[str, str]:
    """`qwen2.5-coder-0.5b-instruct` -> `0.5B`, where that names one model only in this report."""
    short = {m: size_of(m) or m for m in dict.fromkeys(models)}
    taken = [s for s in short.values()]
    return {m: s if taken.count(s) == 1 else m for m, s in short.items()}


def size_of(model: str) -> str | None:
    found = re.findall(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)[bB](?![A-Za-z0-9])", model)
    return f"{found[-1]}B" if len(found) == 1 else None


def group_outcomes(group: dict) -> list[str]:
    """pass@1, then each extra outcome (base, plus, held-out) that some run of the group carries."""
    return [PASS, *(name for name in EXTRA_OUTCOMES if any(name in r for r in group["runs"]))]


def column_title(group: dict, outcome: str, model: str) -> str:
    title = f"{task_text(group['task'], group['prompt_style'])} · {model}"
    return title if outcome == PASS else f"{title}, {OUTCOME_TITLES[outcome]}"


def method_labels(groups: list[dict], baseline: str) -> list[str]:
    """The baseline first, then the other labels in natural order."""
    labels = {r["label"] for g in groups for r in g["runs"]}
    rest = sorted(labels - {baseline}, key=natural_key)
    return [baseline, *rest] if baseline in labels else rest


def cell(group: dict, outcome: str, label: str, baseline: str) -> list[dict]:
    """One entry per run of this method in the group (usually one; none when it did not run there)."""
    comparisons = {c["method"]: c for c in group["comparisons"]}
    return [
        entry(run, outcome, comparisons.get(run["name"]), label == baseline)
        for run in group["runs"]
        if run["label"] == label
    ]


def entry(run: dict, outcome: str, comparison: dict | None, is_baseline: bool) -> dict:
    stats = run if outcome == PASS else run.get(outcome)
    out: dict = {"run": run["name"], "pass@1": None if stats is None else stats["pass@1"]}
    if is_baseline:
        return out | {"baseline": True}
    test = comparison if outcome == PASS or comparison is None else comparison.get(outcome)
    if not test or not test.get("paired"):
        return out | {"paired": False}
    return out | {"paired": True, "difference": test["difference"], "p_holm": test["p_holm"]}


KINDS = ("completion", "chat", "multipl-e", "multipl-e (chat)")  # the parts of one model, in order


def parts(data: dict) -> list[dict]:
    """The overview's columns by model and kind (see the module's doc): `title`, `columns` (indices
    into the overview's columns) and `titles` (the column titles without what the part says)."""
    groups = {g["id"]: g for g in data["groups"]}
    columns = data["overview"]["columns"]
    models = short_models([g["model"] for g in data["groups"]])
    found: dict[tuple[str, str], list[int]] = {}
    for i, column in enumerate(columns):
        found.setdefault(part_key(groups[column["group"]]), []).append(i)
    model_order = list(dict.fromkeys(groups[c["group"]]["model"] for c in columns))
    ordered = sorted(found, key=lambda k: (model_order.index(k[0]), KINDS.index(k[1])))
    return [
        {
            "title": f"{part_title(kind)} · {models[model]}",
            "columns": found[model, kind],
            "titles": [
                short_title(groups[columns[i]["group"]], columns[i]["outcome"]) for i in found[model, kind]
            ],
        }
        for model, kind in ordered
    ]


def part_key(group: dict) -> tuple[str, str]:
    chat = group["prompt_style"] == "chat"
    if group["task"].startswith("multipl-e"):
        return group["model"], "multipl-e (chat)" if chat else "multipl-e"
    return group["model"], "chat" if chat else "completion"


def part_title(kind: str) -> str:
    return {
        "completion": "Python, completion prompts",
        "chat": "Python, chat prompts",
        "multipl-e": "MultiPL-E, completion prompts",
        "multipl-e (chat)": "MultiPL-E, chat prompts",
    }[kind]


def short_title(group: dict, outcome: str) -> str:
    """A column's title inside its part: the task (a MultiPL-E language by its name) and the outcome."""
    task = group["task"].removeprefix("multipl-e-")
    return task if outcome == PASS else f"{task}, {OUTCOME_TITLES[outcome]}"
