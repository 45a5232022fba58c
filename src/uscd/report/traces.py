"""Trace analysis: which flipped samples to show, and their per-step uncertainty and decisions."""

from __future__ import annotations

from uscd.report.data import TRACE_CASES, Group, PlotSpec, Run, TraceCase
from uscd.report.loader import slug
from uscd.runs import TRACES, read_jsonl


def trace_plots(group: Group) -> list[PlotSpec]:
    by_name = {r.name: r for r in group.runs}
    specs = []
    for comp in group.comparisons:
        if not comp.get("paired"):
            continue
        run = by_name[comp["method"]]
        cases = trace_cases(run, comp["fail_to_pass"][:TRACE_CASES], True) + trace_cases(
            run, comp["pass_to_fail"][:TRACE_CASES], False
        )
        if any(any(u is not None for u in c.uncertainty) for c in cases):
            title = f"{run.name} vs {comp['baseline']}: uncertainty per step ({group.title})"
            data = {"cases": cases, **gate_of(run)}
            specs.append(PlotSpec(f"traces_{group.id}_{slug(run.name)}.png", "traces", title, data))
    return specs


def gate_of(run: Run) -> dict:
    knobs = run.config.get("method", {}).get("knobs", {})
    return {"measure": knobs.get("measure"), "threshold": knobs.get("threshold")}


def trace_cases(run: Run, task_ids: list[str], fixed: bool) -> list[TraceCase]:
    path = run.folder.path / TRACES
    if not task_ids or not path.exists():
        return []
    wanted = set(task_ids)
    traces = {(t["task_id"], int(t["sample_idx"])): t for t in read_jsonl(path) if t["task_id"] in wanted}
    completions = {(s["task_id"], int(s["sample_idx"])): s.get("completion", "") for s in run.samples}
    cases = []
    for tid in task_ids:
        keys = sorted(k for k in traces if k[0] == tid)
        # the sample that shows the flip: one that passes for a fix, one that fails for a break
        chosen = next((k for k in keys if run.passed(*k) is fixed), None)
        if chosen is not None:
            arrow = "fail → pass" if fixed else "pass → fail"
            title = f"{tid} ({arrow}, sample {chosen[1]})"
            cases.append(trace_case(title, traces[chosen], completions.get(chosen, "")))
    return cases


def trace_case(title: str, trace: dict, completion: str) -> TraceCase:
    tokens, greedy = trace.get("tokens", []), trace.get("greedy", [])
    texts, greedy_texts = trace.get("text", []), trace.get("greedy_text", [])
    changed = [
        (i, texts[i] if i < len(texts) else "", greedy_texts[i] if i < len(greedy_texts) else "")
        for i, (tok, g) in enumerate(zip(tokens, greedy, strict=False))
        if g is not None and tok != g
    ]
    contrast = [ch == "1" for ch in trace.get("contrast", "")]
    return TraceCase(
        title, list(trace.get("uncertainty", [])), contrast, changed, end_step(texts, completion)
    )


def end_step(texts: list[str], completion: str) -> int | None:
    total = 0
    for i, text in enumerate(texts):
        if total >= len(completion):
            return i
        total += len(text)
    return None
