"""P1: USCD wall time / greedy wall time on the first 40 HumanEval problems (target <= 1.15).

Both runs use the same engine path (single-stream by default), problems, stop sequences and token
limit. Beside it: the eager-sync USCD ratio (the lame sequence fed every token) and the trigger
rate (fraction of steps that needed p_lame). USCD and greedy write different completions, so the
per-token time ratio is printed too.

    flock /tmp/uscd-model.lock python benchmarks/p1_uscd_overhead.py [--limit 40] [--model 0.5b]
"""

from __future__ import annotations

import argparse

from _common import Timer, emit, humaneval, model_lock, open_backend, table


def run(decoder, problems, rule, sync, max_new):
    """Generate the problems one after the other; `decoder` is a Decoder or a BatchedDecoder."""
    from uscd.engine import BatchedDecoder, GenerationConfig, Request
    from uscd.methods import Sampler

    gens = []
    with Timer() as t:
        for p in problems:
            lame = p.lame_prompt if "lame" in rule.aux else None
            cfg = GenerationConfig(max_new_tokens=max_new, stop=p.stop, sync=sync, trace=False)
            if isinstance(decoder, BatchedDecoder):
                ((_, g),) = decoder.generate_many([Request(p.prompt, lame, rule, Sampler(), cfg)])
                gens.append(g)
            else:
                gens.append(decoder.generate(p.prompt, lame, rule, Sampler(), cfg))
    steps = sum(g.steps for g in gens)
    return {
        "wall_s": t.s,
        "tokens": sum(len(g.tokens) for g in gens),
        "steps": steps,
        "ms_per_step": 1000 * t.s / steps,
        "lame_steps": sum(g.lame_syncs for g in gens),
        "contrast_steps": sum(g.contrast_steps for g in gens),
        "lame_tokens": sum(g.lame_tokens_evaluated for g in gens),
        "completions": [g.completion for g in gens],
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--threshold", type=float, default=None, help="uscd gate threshold (default: the rule's)")
    args = ap.parse_args(argv)

    from uscd.engine import BatchedDecoder, Decoder
    from uscd.methods import make_rule

    problems = humaneval(args.limit)
    uscd = make_rule("uscd", threshold=args.threshold)
    with model_lock(), open_backend(args.model) as backend:
        decoder = Decoder(backend)
        run(decoder, problems[:2], make_rule("greedy"), "lazy", 16)  # warm-up (page cache, allocations)
        greedy = run(decoder, problems, make_rule("greedy"), "lazy", args.max_new_tokens)
        lazy = run(decoder, problems, uscd, "lazy", args.max_new_tokens)
        eager = run(decoder, problems, uscd, "eager", args.max_new_tokens)
        # the same lazy rule in one two-sequence context: a step after one that needed p_lame feeds
        # the token to both sequences in one decode (BatchedDecoder with one slot)
        one_ctx = run(BatchedDecoder(backend, 1), problems, uscd, "lazy", args.max_new_tokens)
    rows = []
    runs = (("greedy", greedy), ("uscd lazy", lazy), ("uscd eager", eager), ("uscd lazy, 1 ctx", one_ctx))
    for name, r in runs:
        rows.append(
            [
                name,
                r["wall_s"],
                r["tokens"],
                r["steps"],
                r["ms_per_step"],
                r["lame_steps"],
                r["lame_tokens"],
                r["wall_s"] / greedy["wall_s"],
                r["ms_per_step"] / greedy["ms_per_step"],
            ]
        )
    print(f"P1 on the first {len(problems)} HumanEval problems, single-stream, model {backend.path.name}")
    print(
        table(
            [
                "run",
                "wall s",
                "tokens",
                "steps",
                "ms/step",
                "p_lame steps",
                "lame tokens",
                "wall / greedy",
                "per-step / greedy",
            ],
            rows,
        )
    )
    ratio = lazy["wall_s"] / greedy["wall_s"]
    trigger = lazy["lame_steps"] / lazy["steps"]
    print(
        f"trigger rate (steps that needed p_lame): {trigger:.3f}; "
        f"contrast rate {lazy['contrast_steps'] / lazy['steps']:.3f}"
    )
    return emit(
        "P1",
        ratio,
        "<= 1.15",
        ratio <= 1.15,
        eager_ratio=round(eager["wall_s"] / greedy["wall_s"], 4),
        one_context_ratio=round(one_ctx["wall_s"] / greedy["wall_s"], 4),
        per_step_ratio=round(lazy["ms_per_step"] / greedy["ms_per_step"], 4),
        trigger_rate=round(trigger, 4),
        problems=len(problems),
        greedy_s=round(greedy["wall_s"], 2),
        uscd_s=round(lazy["wall_s"], 2),
        eager_s=round(eager["wall_s"], 2),
        lazy_equals_eager=sum(a == b for a, b in zip(lazy["completions"], eager["completions"], strict=True)),
    )


if __name__ == "__main__":
    main()
