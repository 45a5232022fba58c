"""One run's row of the report: its settings and its statistics (from `uscd.summary`)."""

from __future__ import annotations

from uscd.metrics import pass_at_1_ci
from uscd.report.data import STATUSES, Run, r6


def run_stats(run: Run) -> dict:
    """The run's row; `base`/`plus` and `environment_flags` appear only for runs that have them."""
    out = settings_and_stats(run)
    for name, counts in run.extra_counts.items():
        out[name] = outcome_stats(counts)
    if run.environment_flags:
        out["environment_flags"] = list(run.environment_flags)
    return out


def outcome_stats(counts: dict[str, tuple[int, int]]) -> dict:
    """pass@1 and its 95% CI by one outcome (base or plus tests), as `uscd.summary` computes pass@1."""
    ordered = [counts[t] for t in sorted(counts)]
    ci = pass_at_1_ci(ordered)
    return {
        "problems": len(ordered),
        "passed": sum(c for _, c in ordered),
        "pass@1": r6(ci.estimate),
        "pass@1_ci95": [r6(ci.lo), r6(ci.hi)],
    }


def settings_and_stats(run: Run) -> dict:
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
        "prompt_style": run.prompt_style,
        "model": run.model,
        "model_sha256": run.model_sha,
        "n_samples": run.n_samples,
        "temperature": run.sampling.get("temperature"),
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
