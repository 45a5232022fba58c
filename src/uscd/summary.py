"""Summary of one run folder's records: pass@k with a CI, statuses, generation statistics."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

from uscd.metrics import mean_pass_at_k, pass_at_1_ci

K_VALUES = (1, 5, 10, 100)


def unique(records: list[dict]) -> list[dict]:
    """One record per (task_id, sample_idx), the first written; a duplicate never counts twice."""
    seen: dict[tuple[str, int], dict] = {}
    for r in records:
        seen.setdefault((r["task_id"], int(r["sample_idx"])), r)
    return list(seen.values())


def per_problem_counts(
    results: list[dict], passed=lambda r: r["status"] == "pass"
) -> dict[str, tuple[int, int]]:
    """task_id -> (samples executed, samples passed)."""
    n: dict[str, int] = defaultdict(int)
    c: dict[str, int] = defaultdict(int)
    for r in unique(results):
        n[r["task_id"]] += 1
        c[r["task_id"]] += bool(passed(r))
    return {t: (n[t], c[t]) for t in n}


def suite_names(results: list[dict]) -> list[str]:
    """The test suites of a multi-suite task (HumanEval+/MBPP+: base, plus), in run order."""
    first = results[0] if results else {}
    return [k.removesuffix("_passed") for k in first if k.endswith("_passed")]


def pass_figures(counts: dict[str, tuple[int, int]]) -> dict:
    ordered = [counts[t] for t in sorted(counts)]
    n_min = min((n for n, _ in ordered), default=0)
    ci = pass_at_1_ci(ordered)
    out = {"pass@1": round(ci.estimate, 6), "pass@1_ci95": [round(ci.lo, 6), round(ci.hi, 6)]}
    for k in K_VALUES[1:]:
        if k <= n_min:
            out[f"pass@{k}"] = round(mean_pass_at_k(ordered, k), 6)
    out["passed"] = sum(c for _, c in ordered)
    return out


def suite_figures(results: list[dict]) -> dict:
    """Per suite, evalplus's way: "base" = the base tests, "plus" = base *and* extra tests."""
    out, names = {}, suite_names(results)
    for i, name in enumerate(names):
        upto = names[: i + 1]
        counts = per_problem_counts(results, lambda r, upto=upto: all(r.get(f"{s}_passed") for s in upto))
        out[name] = pass_figures(counts)
    return out


def covered_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """The length of the union of [start, end] intervals: overlaps count once, gaps not at all."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def generation_wall_s(stats: list[dict]) -> float | None:
    """The wall time the samples took to generate: the union of their [started_at, finished_at], so
    a batch's overlapping sequences count once and the gaps between resumed chunks not at all. None
    when a generated sample has no timestamps (runs written before they were recorded)."""
    generated = [s for s in stats if s]  # an error sample generated nothing and has no stats
    if not generated or any(s.get("started_at") is None or s.get("finished_at") is None for s in generated):
        return None
    return covered_seconds((s["started_at"], s["finished_at"]) for s in generated)


def generation_stats(samples: list[dict]) -> dict:
    """`tokens_per_s` is per-sequence decode throughput (tokens over the summed decode times: in a
    batch each sequence's decode time includes the others'); `tokens_per_s_wall` is the run's
    (tokens over the wall time of generation)."""
    stats = [s.get("stats") or {} for s in samples]
    steps = sum(s.get("steps", 0) for s in stats)
    tokens = sum(s.get("new_tokens", 0) for s in stats)
    decode_s = sum(s.get("decode_s", 0.0) for s in stats)
    prefill_s = sum(s.get("prefill_s", 0.0) for s in stats)
    wall_s = generation_wall_s(stats)
    return {
        "samples": len(samples),
        "new_tokens": tokens,
        "mean_new_tokens": round(tokens / len(samples), 2) if samples else 0.0,
        "decode_s": round(decode_s, 2),
        "prefill_s": round(prefill_s, 2),
        "tokens_per_s": round(tokens / decode_s, 2) if decode_s else None,
        "wall_s": None if wall_s is None else round(wall_s, 2),
        "tokens_per_s_wall": round(tokens / wall_s, 2) if wall_s else None,
        "steps": steps,
        "uncertain_rate": round(sum(s.get("uncertain_steps", 0) for s in stats) / steps, 4) if steps else 0.0,
        "contrast_rate": round(sum(s.get("contrast_steps", 0) for s in stats) / steps, 4) if steps else 0.0,
        "fallback_steps": sum(s.get("fallback_steps", 0) for s in stats),
        "lame_tokens_evaluated": sum(s.get("lame_tokens_evaluated", 0) for s in stats),
        "lookahead_tokens": sum(s.get("lookahead_tokens", 0) for s in stats),
        "finish_reasons": dict(Counter(s.get("finish_reason", "?") for s in samples)),
        **search_stats([s["search"] for s in stats if s.get("search")]),
    }


def search_stats(searches: list[dict]) -> dict:
    """A program search's cost (branch, filter): how many problems stopped at the first program,
    programs decoded, executions and tokens per problem, branches for the branch method."""
    if not searches:
        return {}
    n = len(searches)
    programs = [s.get("programs", 1) for s in searches]
    tokens = sum(s.get("tokens_decoded", 0) for s in searches)
    return {
        "search": {
            "problems": n,
            "outcomes": dict(Counter(s.get("outcome", "?") for s in searches)),
            "stopped_at_first": sum(p == 1 for p in programs),
            "mean_programs": round(sum(programs) / n, 3),
            "programs_histogram": {str(k): v for k, v in sorted(Counter(programs).items())},
            "mean_executions": round(sum(s.get("executions", 0) for s in searches) / n, 3),
            "tokens_decoded": tokens,
            "mean_tokens_decoded": round(tokens / n, 2),
            "branch_tokens": sum(s.get("branch_tokens", 0) for s in searches),
            "search_s": round(sum(s.get("search_s", 0.0) for s in searches), 2),
        }
    }


def environment_flags(results: list[dict]) -> list[str]:
    """Warnings for a run whose failures look like the machine's fault, not the model's: most programs
    failed to compile, or most runs failed with one sandbox/toolchain error. Never a silent 0 %."""
    total = len(results)
    if total < 2:
        return []
    flags = []
    compiled_not = [r for r in results if r.get("phase") == "compile" and r["status"] != "timeout"]
    if len(compiled_not) * 2 > total:
        common, _ = Counter(r.get("reason", "") for r in compiled_not).most_common(1)[0]
        flags.append(
            f"{len(compiled_not)}/{total} programs failed to compile (most often: {common[:160]}); "
            "check the toolchain with `uscd doctor`"
        )
    environment = [
        r for r in results if r["status"] == "error" or r.get("reason", "").startswith("cannot run ")
    ]
    if len(environment) * 2 > total:
        common, count = Counter(r.get("reason", "") for r in environment).most_common(1)[0]
        flags.append(f"{len(environment)}/{total} runs failed in the sandbox, {count} with: {common[:160]}")
    return flags


def summarize(config: dict, samples: list[dict], results: list[dict]) -> dict:
    samples, results = unique(samples), unique(results)
    counts = per_problem_counts(results)
    out: dict = {
        "config_hash": config.get("config_hash"),
        "task": config.get("task", {}).get("name"),
        "method": config.get("method", {}).get("label"),
        "rule": config.get("method", {}).get("rule"),
        "problems_generated": len({s["task_id"] for s in samples}),
        "problems_executed": len(counts),
        "samples_executed": len(results),
        "statuses": dict(Counter(r["status"] for r in results)),
        "levels": sorted({r.get("level", "?") for r in results}),
        "environment_flags": environment_flags(results),
        "generation": generation_stats(samples),
    }
    if counts:
        out.update(pass_figures(counts))
    if suites := suite_figures(results):
        out["suites"] = suites
        for name, figures in suites.items():
            out[f"pass@1_{name}"] = figures["pass@1"]
    if (config.get("prompt") or {}).get("style") == "chat":
        from uscd.prompts.failures import failure_breakdown

        out["failures"] = failure_breakdown(samples, results)
    return out
