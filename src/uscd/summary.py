"""Summary of one run folder's records: pass@k with a CI, statuses, generation statistics."""

from __future__ import annotations

from collections import Counter, defaultdict

from uscd.metrics import mean_pass_at_k, pass_at_1_ci

K_VALUES = (1, 5, 10, 100)


def unique(records: list[dict]) -> list[dict]:
    """One record per (task_id, sample_idx), the first written; a duplicate never counts twice."""
    seen: dict[tuple[str, int], dict] = {}
    for r in records:
        seen.setdefault((r["task_id"], int(r["sample_idx"])), r)
    return list(seen.values())


def per_problem_counts(results: list[dict]) -> dict[str, tuple[int, int]]:
    """task_id -> (samples executed, samples passed)."""
    n: dict[str, int] = defaultdict(int)
    c: dict[str, int] = defaultdict(int)
    for r in unique(results):
        n[r["task_id"]] += 1
        c[r["task_id"]] += r["status"] == "pass"
    return {t: (n[t], c[t]) for t in n}


def generation_stats(samples: list[dict]) -> dict:
    stats = [s.get("stats") or {} for s in samples]
    steps = sum(s.get("steps", 0) for s in stats)
    tokens = sum(s.get("new_tokens", 0) for s in stats)
    decode_s = sum(s.get("decode_s", 0.0) for s in stats)
    prefill_s = sum(s.get("prefill_s", 0.0) for s in stats)
    return {
        "samples": len(samples),
        "new_tokens": tokens,
        "mean_new_tokens": round(tokens / len(samples), 2) if samples else 0.0,
        "decode_s": round(decode_s, 2),
        "prefill_s": round(prefill_s, 2),
        "tokens_per_s": round(tokens / decode_s, 2) if decode_s else None,
        "steps": steps,
        "uncertain_rate": round(sum(s.get("uncertain_steps", 0) for s in stats) / steps, 4) if steps else 0.0,
        "contrast_rate": round(sum(s.get("contrast_steps", 0) for s in stats) / steps, 4) if steps else 0.0,
        "fallback_steps": sum(s.get("fallback_steps", 0) for s in stats),
        "lame_tokens_evaluated": sum(s.get("lame_tokens_evaluated", 0) for s in stats),
        "lookahead_tokens": sum(s.get("lookahead_tokens", 0) for s in stats),
        "finish_reasons": dict(Counter(s.get("finish_reason", "?") for s in samples)),
    }


def summarize(config: dict, samples: list[dict], results: list[dict]) -> dict:
    samples, results = unique(samples), unique(results)
    counts = per_problem_counts(results)
    n_min = min((n for n, _ in counts.values()), default=0)
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
        "generation": generation_stats(samples),
    }
    if counts:
        ordered = [counts[t] for t in sorted(counts)]
        ci = pass_at_1_ci(ordered)
        out["pass@1"] = round(ci.estimate, 6)
        out["pass@1_ci95"] = [round(ci.lo, 6), round(ci.hi, 6)]
        for k in K_VALUES[1:]:
            if k <= n_min:
                out[f"pass@{k}"] = round(mean_pass_at_k(ordered, k), 6)
        out["passed"] = sum(c for _, c in ordered)
    return out
