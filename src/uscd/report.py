"""`uscd report`: statistics, paired comparisons against a baseline, plots; md/json/html output.

Everything here is deterministic: runs and problems are sorted, bootstraps are seeded, floats are
rounded before they are written and nothing depends on the clock, so the same run folders always
give the same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uscd.errors import UscdError
from uscd.metrics import mcnemar_exact, paired_bootstrap
from uscd.runs import TRACES, RunFolder, find_run_folders, read_jsonl
from uscd.summary import per_problem_counts, summarize

FORMAT_VERSION = 1
ALPHA = 0.05
BOOTSTRAP_SEED = 0
TRACE_CASES = 3  # problems per direction (fixed / broken) in the uncertainty-trace figures
STATUSES = ("pass", "fail", "timeout", "error")
FORMATS = ("md", "json", "html")


# ----------------------------------------------------------------------------------------------
# loading


@dataclass
class Run:
    folder: RunFolder
    config: dict
    samples: list[dict]
    results: list[dict]
    summary: dict
    counts: dict[str, tuple[int, int]]
    name: str = ""
    _passed: dict[tuple[str, int], bool] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> str:
        return str(self.folder.path)

    @property
    def label(self) -> str:
        return str(self.config.get("method", {}).get("label") or self.folder.path.name)

    @property
    def task(self) -> str:
        return str(self.config.get("task", {}).get("name"))

    @property
    def dataset_sha(self) -> str | None:
        return self.config.get("task", {}).get("dataset_sha256")

    @property
    def model(self) -> str:
        return str(self.config.get("model", {}).get("name") or "unknown model")

    @property
    def model_sha(self) -> str | None:
        return self.config.get("model", {}).get("sha256")

    @property
    def n_samples(self) -> int:
        return int(self.config.get("sampling", {}).get("n_samples") or 1)

    @property
    def group_key(self) -> tuple[str, str, str]:
        return self.task, self.model, self.model_sha or ""

    def passed(self, task_id: str, index: int) -> bool | None:
        if not self._passed:
            self._passed = {(r["task_id"], int(r["sample_idx"])): r["status"] == "pass" for r in self.results}
        return self._passed.get((task_id, index))


def load_run(folder: RunFolder) -> Run:
    config = folder.read_config()
    if not isinstance(config.get("task"), dict) or not config["task"].get("name"):
        raise UscdError(f"{folder.path}/config.json names no task; is it a run folder of `uscd eval`?")
    samples, results = folder.samples(), folder.results()
    if not results:
        raise UscdError(f"{folder.path}: not evaluated: run `uscd evaluate {folder.path}`")
    summary = summarize(config, samples, results)
    return Run(folder, config, samples, results, summary, per_problem_counts(results))


def load_runs(paths: list[Path]) -> list[Run]:
    if not paths:
        raise UscdError("no run folder given")
    seen: dict[Path, RunFolder] = {}
    for path in paths:
        for folder in find_run_folders(Path(path)):
            seen.setdefault(folder.path.resolve(), folder)
    return [load_run(f) for f in seen.values()]


# ----------------------------------------------------------------------------------------------
# grouping and naming


@dataclass
class Group:
    id: str
    task: str
    model: str
    model_sha: str | None
    runs: list[Run]
    comparisons: list[dict] = field(default_factory=list)


def natural_key(text: str) -> list:
    """HumanEval/2 before HumanEval/10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def group_runs(runs: list[Run], baseline: str) -> list[Group]:
    """One group per task and model; never pair or plot across groups."""
    by_key: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.group_key, []).append(run)
    groups, ids = [], Counter()
    for (task, model, sha), members in sorted(by_key.items()):
        gid = slug(f"{task}_{model}")
        ids[gid] += 1
        if ids[gid] > 1:
            gid = f"{gid}_{slug((sha or str(ids[gid]))[:8])}"
        name_runs(members)
        members.sort(key=lambda r: (r.label != baseline, natural_key(r.name), r.path))
        groups.append(Group(gid, task, model, sha or None, members))
    return groups


def name_runs(runs: list[Run]) -> None:
    """Display names: the method label, with the parent folder (or path) where labels repeat."""
    labels = Counter(r.label for r in runs)
    for run in runs:
        run.name = run.label if labels[run.label] == 1 else f"{run.label} ({run.folder.path.parent.name})"
    names = Counter(r.name for r in runs)
    for run in runs:
        if names[run.name] > 1:
            run.name = f"{run.label} ({run.path})"


# ----------------------------------------------------------------------------------------------
# per-run statistics


def r6(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def run_stats(run: Run) -> dict:
    s, gen = run.summary, run.summary.get("generation", {})
    per_problem = [n for n, _ in run.counts.values()]
    statuses = {k: s["statuses"].get(k, 0) for k in STATUSES} | dict(sorted(s["statuses"].items()))
    return {
        "name": run.name,
        "label": run.label,
        "path": run.path,
        "config_hash": run.config.get("config_hash"),
        "rule": run.config.get("method", {}).get("rule"),
        "knobs": run.config.get("method", {}).get("knobs", {}),
        "lame_source": run.config.get("method", {}).get("lame_source"),
        "task": run.task,
        "dataset_sha256": run.dataset_sha,
        "prompt_version": run.config.get("task", {}).get("prompt_version"),
        "model": run.model,
        "model_sha256": run.model_sha,
        "n_samples": run.n_samples,
        "temperature": run.config.get("sampling", {}).get("temperature"),
        "problems": s["problems_executed"],
        "problems_generated": s["problems_generated"],
        "samples_executed": s["samples_executed"],
        "samples_per_problem": [min(per_problem), max(per_problem)],
        "passed": s.get("passed", 0),
        "pass@1": r6(s.get("pass@1")),
        "pass@1_ci95": [r6(x) for x in s.get("pass@1_ci95", [])],
        "pass@10": r6(s.get("pass@10")),
        "statuses": statuses,
        "contrast_rate": r6(gen.get("contrast_rate")),
        "uncertain_rate": r6(gen.get("uncertain_rate")),
        "fallback_steps": gen.get("fallback_steps", 0),
        "mean_new_tokens": r6(gen.get("mean_new_tokens")),
        "tokens_per_s": r6(gen.get("tokens_per_s")),
        "levels": s.get("levels", []),
    }


# ----------------------------------------------------------------------------------------------
# paired comparisons


def pick_baseline(candidate: Run, baselines: list[Run]) -> tuple[Run | None, str]:
    """The baseline run to pair with: compatible, and from the same eval folder where several fit."""
    if not baselines:
        return None, "no baseline run in this task/model group"
    reasons = [incompatibility(b, candidate) for b in baselines]
    fitting = [b for b, why in zip(baselines, reasons, strict=True) if why is None]
    if not fitting:
        return None, reasons[0] or ""
    if len(fitting) > 1:
        siblings = [b for b in fitting if b.folder.path.parent == candidate.folder.path.parent]
        if len(siblings) != 1:
            return None, f"{len(fitting)} baseline runs fit ({', '.join(b.path for b in fitting)}); pass one"
        fitting = siblings
    return fitting[0], ""


def incompatibility(base: Run, cand: Run) -> str | None:
    """Why two runs of one group cannot be paired, or None."""
    if base.dataset_sha != cand.dataset_sha:
        return f"different datasets (sha256 {str(base.dataset_sha)[:12]} vs {str(cand.dataset_sha)[:12]})"
    if base.n_samples != cand.n_samples:
        return f"different samples per problem ({base.n_samples} vs {cand.n_samples})"
    return None


def compare(base: Run, cand: Run) -> dict:
    shared = sorted(set(base.counts) & set(cand.counts), key=natural_key)
    out: dict[str, Any] = {
        "method": cand.name,
        "baseline": base.name,
        "problems_baseline": len(base.counts),
        "problems_candidate": len(cand.counts),
        "problems_paired": len(shared),
    }
    if not shared:
        return out | {"paired": False, "reason": "no problem was executed by both runs"}
    b_counts = [base.counts[t] for t in shared]
    c_counts = [cand.counts[t] for t in shared]
    single = all(n == 1 for n, _ in b_counts + c_counts)
    out |= {"paired": True, "reason": ""}
    out |= mcnemar_part(b_counts, c_counts) if single else bootstrap_part(b_counts, c_counts)
    if all(n >= 10 for n, _ in b_counts + c_counts):
        out["pass@10"] = pass_at_10_part(b_counts, c_counts)
    out["baseline_pass@1"] = r6(sum(c / n for n, c in b_counts) / len(shared))
    out["candidate_pass@1"] = r6(sum(c / n for n, c in c_counts) / len(shared))
    out["fail_to_pass"], out["pass_to_fail"] = flips(shared, b_counts, c_counts)
    out["changed_completions"] = changed_completions(base, cand, shared) if single else None
    out["verdict"] = verdict(out["difference"], out["p_value"], base.name)
    return out


def changed_completions(base: Run, cand: Run, task_ids: list[str]) -> int:
    """Paired problems whose (single) completion differs from the baseline's: where a method acted."""
    b = {s["task_id"]: s["completion"] for s in base.samples if int(s["sample_idx"]) == 0}
    c = {s["task_id"]: s["completion"] for s in cand.samples if int(s["sample_idx"]) == 0}
    return sum(b.get(t) != c.get(t) for t in task_ids)


def mcnemar_part(b_counts: list[tuple[int, int]], c_counts: list[tuple[int, int]]) -> dict:
    test = mcnemar_exact([c > 0 for _, c in b_counts], [c > 0 for _, c in c_counts])
    ci = mcnemar_difference_ci(test.b, test.c, len(b_counts))
    return {
        "test": "mcnemar-exact",
        "fail_to_pass_count": test.b,
        "pass_to_fail_count": test.c,
        "difference": r6((test.b - test.c) / len(b_counts)),
        "difference_ci95": None if ci is None else [r6(ci[0]), r6(ci[1])],
        "p_value": r6(test.p_value),
    }


def bootstrap_part(b_counts: list[tuple[int, int]], c_counts: list[tuple[int, int]]) -> dict:
    diff = paired_bootstrap(b_counts, c_counts, 1, seed=BOOTSTRAP_SEED)
    return {
        "test": "paired-bootstrap",
        "bootstrap_seed": BOOTSTRAP_SEED,
        "difference": r6(diff.mean_diff),
        "difference_ci95": [r6(diff.lo), r6(diff.hi)],
        "p_value": r6(diff.p_value),
    }


def pass_at_10_part(b_counts: list[tuple[int, int]], c_counts: list[tuple[int, int]]) -> dict:
    """The paired pass@10 difference (unbiased estimator per problem), by the same bootstrap."""
    diff = paired_bootstrap(b_counts, c_counts, 10, seed=BOOTSTRAP_SEED)
    return {
        "test": "paired-bootstrap",
        "difference": r6(diff.mean_diff),
        "difference_ci95": [r6(diff.lo), r6(diff.hi)],
        "p_value": r6(diff.p_value),
    }


def flips(
    ids: list[str], b_counts: list[tuple[int, int]], c_counts: list[tuple[int, int]]
) -> tuple[list[str], list[str]]:
    """Problems whose pass rate went up / down (with one sample: fail->pass / pass->fail)."""
    up = [t for t, (bn, bc), (cn, cc) in zip(ids, b_counts, c_counts, strict=True) if cc * bn > bc * cn]
    down = [t for t, (bn, bc), (cn, cc) in zip(ids, b_counts, c_counts, strict=True) if cc * bn < bc * cn]
    return up, down


def mcnemar_difference_ci(b: int, c: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Exact CI of (b - c) / n conditional on the b + c discordant problems (Clopper-Pearson on b).

    It excludes 0 exactly when the exact McNemar test rejects at 1 - confidence, so the CI and the
    p-value never tell different stories. None without discordant problems.
    """
    m = b + c
    if m == 0:
        return None
    lo, hi = clopper_pearson(b, m, confidence)
    return (2 * lo - 1) * m / n, (2 * hi - 1) * m / n


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    lo = 0.0 if k == 0 else _bisect(lambda p: binom_tail_ge(k, n, p) < tail)
    hi = 1.0 if k == n else _bisect(lambda p: binom_tail_ge(k + 1, n, p) <= 1 - tail)
    return lo, hi


def binom_tail_ge(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), in log space so large n cannot overflow."""
    if p <= 0.0:
        return 1.0 if k <= 0 else 0.0
    if p >= 1.0:
        return 1.0 if k <= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.exp(_log_comb(n, i) + i * lp + (n - i) * lq) for i in range(max(k, 0), n + 1)]
    return min(1.0, math.fsum(terms))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _bisect(below: Any) -> float:
    """The p in [0, 1] where the monotone predicate `below(p)` turns from True to False."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if below(mid) else (lo, mid)
    return (lo + hi) / 2


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_p(p: float) -> str:
    return f"p {p_text(p)}" if p < 0.001 else f"p = {p_text(p)}"


def verdict(diff: float, p: float, baseline: str) -> str:
    if p < ALPHA:
        return f"significantly {'better' if diff > 0 else 'worse'} than {baseline} ({fmt_p(p)})"
    text = f"no significant difference from {baseline} ({fmt_p(p)})"
    if diff < 0:
        text += f"; pass@1 is {-diff * 100:.1f} points lower"
    elif diff > 0:
        text += f"; pass@1 is {diff * 100:.1f} points higher, which may be chance"
    return text


def comparisons(group: Group, baseline: str) -> list[dict]:
    baselines = [r for r in group.runs if r.label == baseline]
    out = []
    for cand in group.runs:
        if cand.label == baseline:
            continue
        base, why = pick_baseline(cand, baselines)
        if base is None:
            out.append({"method": cand.name, "baseline": None, "paired": False, "reason": why})
        else:
            out.append(compare(base, cand))
    return out


# ----------------------------------------------------------------------------------------------
# the report model


@dataclass
class TraceCase:
    """One sample's per-step trace, as the trace figure wants it."""

    title: str
    uncertainty: list[float | None]
    contrast: list[bool]
    changed: list[tuple[int, str, str]]  # step, chosen text, greedy text
    end_step: int | None  # first step past the completion (the trace runs on to the stop check)


@dataclass
class PlotSpec:
    name: str
    kind: str  # pass1 | calibration | traces
    title: str
    data: Any


@dataclass
class Report:
    data: dict
    groups: list[Group]
    plots: list[PlotSpec]


def build_report(
    paths: list[Path],
    baseline: str = "greedy",
    *,
    strict_baseline: bool = False,
    calibration_grid: Path | None = None,
) -> Report:
    runs = load_runs(paths)
    if strict_baseline and not any(r.label == baseline for r in runs):
        labels = ", ".join(sorted({r.label for r in runs}))
        raise UscdError(f"no run is labelled {baseline!r} (labels: {labels}); pick one with --baseline")
    groups = group_runs(runs, baseline)
    plots: list[PlotSpec] = []
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "baseline": baseline,
        "alpha": ALPHA,
        "groups": [group_data(g, baseline, plots) for g in groups],
    }
    if calibration_grid is not None:
        data["calibration_grid"] = calibration_data(Path(calibration_grid), plots)
    data["notes"] = notes(runs, groups)
    return Report(data, groups, plots)


def group_data(group: Group, baseline: str, plots: list[PlotSpec]) -> dict:
    group.comparisons = comparisons(group, baseline)
    stats = [run_stats(r) for r in group.runs]
    title = f"{group.task} · {group.model}"
    plots.append(PlotSpec(f"pass1_{group.id}.png", "pass1", title, pass1_points(stats, baseline)))
    traces = trace_plots(group)
    plots.extend(traces)
    return {
        "id": group.id,
        "task": group.task,
        "model": group.model,
        "model_sha256": group.model_sha,
        "runs": stats,
        "comparisons": group.comparisons,
        "plots": [f"pass1_{group.id}.png", *(p.name for p in traces)],
    }


def pass1_points(stats: list[dict], baseline: str) -> list[dict]:
    return [
        {"name": s["name"], "pass@1": s["pass@1"], "ci": s["pass@1_ci95"], "baseline": s["label"] == baseline}
        for s in stats
        if s["pass@1"] is not None
    ]


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
            title = f"{run.name} vs {comp['baseline']}: uncertainty per step ({group.task} · {group.model})"
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


# ----------------------------------------------------------------------------------------------
# calibration grid


def calibration_data(grid: Path, plots: list[PlotSpec]) -> list[dict]:
    runs = [load_run(f) for f in find_run_folders(grid)]
    out = []
    for group in group_runs(runs, baseline=""):
        varying = varying_knobs(group.runs)
        points = sorted(
            (grid_point(r, varying) for r in group.runs),
            key=lambda p: (p["contrast_rate"] or 0.0, p["pass@1"] or 0.0, p["path"]),
        )
        title = f"calibration grid: {group.task} · {group.model}"
        name = f"calibration_{group.id}.png"
        plots.append(PlotSpec(name, "calibration", title, points))
        out.append(
            {
                "id": group.id,
                "task": group.task,
                "model": group.model,
                "varying": varying,
                "points": points,
                "plot": name,
            }
        )
    return out


def method_settings(run: Run) -> dict:
    method = run.config.get("method", {})
    return {"rule": method.get("rule"), "lame": method.get("lame_source"), **method.get("knobs", {})}


def varying_knobs(runs: list[Run]) -> list[str]:
    settings = [method_settings(r) for r in runs]
    keys = sorted({k for s in settings for k in s})
    return [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1]


def grid_point(run: Run, varying: list[str]) -> dict:
    settings = method_settings(run)
    # a knob the run does not have (greedy has no threshold) is left out, not shown as None
    label = ", ".join(f"{k}={fmt_value(settings[k])}" for k in varying if settings.get(k) is not None)
    stats = run_stats(run)
    return {
        "label": label or run.name,
        "name": run.name,
        "path": run.path,
        "config_hash": stats["config_hash"],
        "knobs": stats["knobs"],
        "rule": stats["rule"],
        "contrast_rate": stats["contrast_rate"],
        "pass@1": stats["pass@1"],
        "pass@1_ci95": stats["pass@1_ci95"],
        "problems": stats["problems"],
    }


def fmt_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------------------------------------
# notes: what the reader must know to trust the numbers


def notes(runs: list[Run], groups: list[Group]) -> list[str]:
    out = []
    for run in sorted(runs, key=lambda r: r.path):
        s = run.summary
        if s["problems_executed"] < s["problems_generated"]:
            out.append(
                f"{run.path}: only {s['problems_executed']} of {s['problems_generated']} generated problems "
                f"were executed; run `uscd evaluate {run.path}` to finish"
            )
    for group in groups:
        for comp in group.comparisons:
            if not comp.get("paired"):
                out.append(f"{group.task} · {group.model}: {comp['method']} not compared: {comp['reason']}")
            elif comp["problems_paired"] < max(comp["problems_baseline"], comp["problems_candidate"]):
                out.append(f"{group.task} · {group.model}: {partial_pairing(comp)}")
        versions = {r.config.get("task", {}).get("prompt_version") for r in group.runs}
        if len(versions) > 1:
            out.append(f"{group.task} · {group.model}: the runs used different prompt versions")
    if len(groups) > 1:
        out.append("runs of different tasks or models are reported in separate groups and never paired")
    return out


def partial_pairing(comp: dict) -> str:
    return (
        f"{comp['method']} vs {comp['baseline']} is paired on the {comp['problems_paired']} problems both "
        f"executed (baseline {comp['problems_baseline']}, method {comp['problems_candidate']})"
    )


# ----------------------------------------------------------------------------------------------
# rendering: one list of blocks, two renderers (markdown and html), so they cannot disagree


# ("h", level, text) | ("p", text) | ("list", items) | ("table", head, rows) | ("img", file name, alt)
Block = tuple


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x * 100:.{digits}f}%"


def ci_text(ci: list | None) -> str:
    return "–" if not ci else f"[{pct(ci[0])}, {pct(ci[1])}]"


def signed_pts(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:+.1f} pts"


def blocks(data: dict) -> list[Block]:
    out: list[Block] = [("h", 1, "uscd report")]
    out.append(("p", method_sentence(data)))
    for group in data["groups"]:
        out.extend(group_blocks(group, data["baseline"]))
    for grid in data.get("calibration_grid", []):
        out.extend(grid_blocks(grid))
    if data["notes"]:
        out += [("h", 2, "Notes"), ("list", data["notes"])]
    return out


def method_sentence(data: dict) -> str:
    return (
        f"Baseline: `{data['baseline']}`. Differences are candidate minus baseline on the problems both "
        f"runs executed, tested at alpha = {data['alpha']}: exact McNemar test when every problem has one "
        "sample (CI exact, conditional on the discordant problems), otherwise a paired bootstrap over "
        f"problems (10,000 resamples, seed {BOOTSTRAP_SEED})."
    )


def group_blocks(group: dict, baseline: str) -> list[Block]:
    runs = group["runs"]
    shas = sorted({str(r["dataset_sha256"])[:12] for r in runs})
    out: list[Block] = [
        ("h", 2, f"{group['task']} · {group['model']}"),
        (
            "p",
            f"Dataset sha256 {', '.join(f'`{s}`' for s in shas)}; model sha256 "
            f"`{str(group['model_sha256'])[:12]}`; {len(runs)} run(s).",
        ),
        ("h", 3, "Methods"),
        methods_table(runs),
        ("img", f"pass1_{group['id']}.png", f"pass@1 by method, {group['task']}"),
    ]
    if group["comparisons"]:
        out += [("h", 3, f"Versus {baseline}"), comparison_table(group["comparisons"])]
        for comp in group["comparisons"]:
            out.extend(comparison_blocks(comp, group))
    out += [("h", 3, "Runs"), runs_table(runs)]
    return out


Column = tuple[str, Callable[[dict], str]]

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
    ("changed", lambda c: "–" if c.get("changed_completions") is None else str(c["changed_completions"])),
    ("fail→pass", lambda c: str(len(c["fail_to_pass"]))),
    ("pass→fail", lambda c: str(len(c["pass_to_fail"]))),
    ("verdict", lambda c: c["verdict"]),
)

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


def ci_pts(ci: list | None) -> str:
    return "–" if ci is None else f"[{signed_pts(ci[0])}, {signed_pts(ci[1])}]"


def table(columns: tuple[Column, ...], items: list[dict]) -> Block:
    return ("table", [name for name, _ in columns], [[cell(item) for _, cell in columns] for item in items])


def rule_text(run: dict) -> str:
    """The rule, and the temperature where the rule's scores are sampled from, not maximised."""
    t, rule = run.get("temperature"), str(run["rule"])
    if not t:
        return rule
    return f"sample, T {t:g}" if rule == "greedy" else f"{rule}, sampled at T {t:g}"


def methods_table(runs: list[dict]) -> Block:
    return table(METHOD_COLUMNS, runs)


def comparison_table(comps: list[dict]) -> Block:
    head, rows = table(COMPARISON_COLUMNS, [c for c in comps if c.get("paired")])[1:]
    for c in comps:
        if not c.get("paired"):
            blanks = ["–"] * (len(head) - 3)
            rows.append(
                [c["method"], str(c.get("problems_paired", 0)), *blanks, f"not compared: {c['reason']}"]
            )
    return ("table", head, rows)


def comparison_blocks(comp: dict, group: dict) -> list[Block]:
    if not comp.get("paired"):
        return []
    up, down = (
        ("fail → pass", "pass → fail")
        if comp["test"] == "mcnemar-exact"
        else ("pass rate up", "pass rate down")
    )
    out: list[Block] = [
        ("h", 4, f"{comp['method']} vs {comp['baseline']}"),
        (
            "p",
            f"{comp['method']}: {comp['verdict']}. Paired on {comp['problems_paired']} problems "
            f"(baseline executed {comp['problems_baseline']}, {comp['method']} "
            f"{comp['problems_candidate']}).",
        ),
        (
            "list",
            [
                f"{up} ({len(comp['fail_to_pass'])}): {', '.join(comp['fail_to_pass']) or 'none'}",
                f"{down} ({len(comp['pass_to_fail'])}): {', '.join(comp['pass_to_fail']) or 'none'}",
            ],
        ),
    ]
    if "pass@10" in comp:
        k10 = comp["pass@10"]
        text = f"{signed_pts(k10['difference'])} {ci_pts(k10['difference_ci95'])}"
        out.append(("p", f"pass@10 difference: {text}, paired bootstrap {fmt_p(k10['p_value'])}."))
    name = f"traces_{group['id']}_{slug(comp['method'])}.png"
    if name in group["plots"]:
        out.append(("img", name, f"uncertainty traces, {comp['method']}"))
    return out


def runs_table(runs: list[dict]) -> Block:
    return table(RUN_COLUMNS, runs)


def grid_blocks(grid: dict) -> list[Block]:
    varying = ", ".join(grid["varying"]) or "nothing"
    return [
        ("h", 2, f"Calibration grid: {grid['task']} · {grid['model']}"),
        ("p", f"{len(grid['points'])} runs; settings that vary: {varying}."),
        table(GRID_COLUMNS, grid["points"]),
        ("img", grid["plot"], "trigger rate vs pass@1"),
    ]


# markdown


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(data: dict, images: set[str] | None = None) -> str:
    parts = []
    for block in blocks(data):
        kind = block[0]
        if kind == "h":
            parts.append(f"{'#' * block[1]} {block[2]}")
        elif kind == "p":
            parts.append(block[1])
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            parts.append(md_table(block[1], block[2]))
        elif kind == "img" and images is not None and block[1] in images:
            parts.append(f"![{block[2]}]({block[1]})")
    return "\n\n".join(parts) + "\n"


def md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# html

CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
    "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left}th{background:#f3f3f3}"
    "code{background:#f3f3f3;padding:0 0.2em}img{max-width:100%}"
)


def inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def to_html(data: dict, images: dict[str, bytes] | None = None) -> str:
    images = images or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>uscd report</title>',
        f"<style>{CSS}</style></head><body>",
    ]
    for block in blocks(data):
        parts.append(html_block(block, images))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def html_block(block: Block, images: dict[str, bytes]) -> str:
    kind = block[0]
    if kind == "h":
        return f"<h{block[1]}>{inline(block[2])}</h{block[1]}>"
    if kind == "p":
        return f"<p>{inline(block[1])}</p>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block[1]) + "</ul>"
    if kind == "table":
        head = "".join(f"<th>{inline(h)}</th>" for h in block[1])
        rows = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in block[2])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if kind == "img" and block[1] in images:
        b64 = base64.b64encode(images[block[1]]).decode("ascii")
        return f'<p><img alt="{html.escape(block[2])}" src="data:image/png;base64,{b64}"></p>'
    return ""


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------------------------
# output


def render_images(report: Report) -> dict[str, bytes]:
    from uscd import plots

    return {spec.name: plots.render(spec) for spec in report.plots}


def write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(payload)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UscdError(f"cannot write {path}: {exc.strerror}") from None


def write_report(report: Report, out: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the chosen formats (and, for md/html, the PNGs) into `out`; return the files written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UscdError(f"cannot create {out}: {exc.strerror}") from None
    images = render_images(report) if {"md", "html"} & set(formats) else {}
    files: dict[str, bytes] = dict(images) if "md" in formats else {}
    data = report.data | {"plots": sorted(images)}
    if "md" in formats:
        files["report.md"] = to_markdown(data, set(images)).encode()
    if "json" in formats:
        files["report.json"] = to_json(data).encode()
    if "html" in formats:
        files["index.html"] = to_html(data, images).encode()
    for name, payload in files.items():
        write_atomic(out / name, payload)
    return [out / name for name in files]


def render_stdout(report: Report, fmt: str) -> str:
    if fmt == "json":
        return to_json(report.data)
    if fmt == "html":
        return to_html(report.data, render_images(report))
    return to_markdown(report.data)
