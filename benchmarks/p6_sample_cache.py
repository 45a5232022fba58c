"""P6: n samples per problem (T 0.8, top-p 0.95): wall time without / with taking the prompt's cache
from another sample of the same problem (``GenerationConfig.share_prefix``), same seeds, same script.

With the ``sample`` rule the only difference between the two runs is the prompt cache reuse; with
``uscd`` the switch also turns off the lame sequence's copy of the standard prompt's common prefix,
so that row is "all prefix sharing vs none".

    flock /tmp/uscd-model.lock python benchmarks/p6_sample_cache.py [--limit 2] [--n 8] [--batch 8]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from _common import emit, generate_timed, humaneval, model_lock, open_backend, table


def sampled(backend, problems, rule_name, n, batch, max_new, share):
    from uscd.engine import GenerationConfig, Request
    from uscd.methods import Sampler, make_rule

    rule = make_rule(rule_name)
    cfg = GenerationConfig(max_new_tokens=max_new, trace=False, share_prefix=share)
    requests = [
        Request(
            p.prompt,
            p.lame_prompt if "lame" in rule.aux else None,
            rule,
            Sampler(0.8, 0.95, 0, 1000 * k + i),
            replace(cfg, stop=p.stop),
        )
        for k, p in enumerate(problems)
        for i in range(n)
    ]
    ordered, wall = generate_timed(backend, requests, batch)
    return {
        "wall_s": wall,
        "tokens": sum(len(g.tokens) for g in ordered),
        "prompt_tokens": sum(g.prompt_tokens for g in ordered),
        "reused": sum(g.reused_prompt_tokens for g in ordered),
        "completions": [g.completion for g in ordered],
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=2)
    ap.add_argument("--offset", type=int, default=40)
    ap.add_argument("--n", type=int, default=8, help="samples per problem")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rules", default="sample,uscd")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    args = ap.parse_args(argv)

    problems = humaneval(args.limit, args.offset)
    rows, ratios, per_token = [], {}, {}
    with model_lock(), open_backend() as backend:
        for rule in [r.strip() for r in args.rules.split(",") if r.strip()]:
            off = sampled(backend, problems, rule, args.n, args.batch, args.max_new_tokens, False)
            on = sampled(backend, problems, rule, args.n, args.batch, args.max_new_tokens, True)
            ratios[rule] = round(off["wall_s"] / on["wall_s"], 4)
            # the samples may diverge at near-ties (the cache rounds differently), so compare per token too
            per_token[rule] = round((off["wall_s"] / off["tokens"]) / (on["wall_s"] / on["tokens"]), 4)
            same = sum(a == b for a, b in zip(off["completions"], on["completions"], strict=True))
            rows.append(
                [
                    rule,
                    off["wall_s"],
                    on["wall_s"],
                    ratios[rule],
                    per_token[rule],
                    on["reused"],
                    on["prompt_tokens"],
                    off["tokens"],
                    on["tokens"],
                    f"{same}/{len(on['completions'])}",
                ]
            )
    print(
        f"\nP6: {len(problems)} HumanEval problems x {args.n} samples, batch {args.batch}, "
        f"{args.max_new_tokens} new tokens max"
    )
    print(
        table(
            [
                "rule",
                "wall s (no reuse)",
                "wall s (reuse)",
                "ratio",
                "per-token ratio",
                "prompt tokens reused",
                "prompt tokens",
                "tokens (no reuse)",
                "tokens (reuse)",
                "same text",
            ],
            rows,
        )
    )
    return emit(
        "P6",
        ratios.get("sample", 0.0),
        "reported (no target)",
        None,
        ratios=ratios,
        per_token_ratios=per_token,
        problems=len(problems),
        n=args.n,
        batch=args.batch,
    )


if __name__ == "__main__":
    main()
