"""P7: SPA and AdaDec wall time / greedy wall time on the first 40 HumanEval problems.

Single-stream, the same problems, stop sequences and token limit for every rule. SPA keeps a second
context (the masked prompt) in step with every token; AdaDec pays only on the steps its entropy
gate fires on, B candidates x L tokens each. Beside the ratios: AdaDec's fire rate (gated steps /
steps), the tokens its rollouts evaluated per generated token, and the per-step time ratio (the
rules write different completions, so their token counts differ).

    flock /tmp/uscd-model.lock python benchmarks/p7_methods_cost.py [--limit 40] [--threshold H]
"""

from __future__ import annotations

import argparse

from _common import Timer, emit, humaneval, model_lock, open_backend, table


def run(decoder, problems, rule, max_new):
    from uscd.engine import GenerationConfig
    from uscd.methods import Sampler
    from uscd.prompts.auxiliary import BUILDERS

    gens = []
    with Timer() as t:
        for p in problems:
            aux = {name: BUILDERS[name](p) for name in rule.aux}
            cfg = GenerationConfig(max_new_tokens=max_new, stop=p.stop, trace=False)
            gens.append(decoder.generate(p.prompt, aux, rule, Sampler(), cfg))
    steps = sum(g.steps for g in gens)
    return {
        "wall_s": t.s,
        "steps": steps,
        "ms_per_step": 1000 * t.s / steps,
        "gated": sum(g.uncertain_steps for g in gens),
        "intervened": sum(g.contrast_steps for g in gens),
        "lookahead_tokens": sum(g.lookahead_tokens for g in gens),
        "changed_completions": 0,
        "completions": [g.completion for g in gens],
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument(
        "--threshold", type=float, default=None, help="adadec entropy threshold (default: the rule's)"
    )
    ap.add_argument("--omega", type=float, default=None, help="spa strength (default: the rule's)")
    args = ap.parse_args(argv)

    from uscd.engine import Decoder
    from uscd.methods import make_rule

    problems = humaneval(args.limit)
    rules = {
        "greedy": make_rule("greedy"),
        "spa": make_rule("spa", omega=args.omega),
        "adadec": make_rule("adadec", threshold=args.threshold),
    }
    with model_lock(), open_backend(args.model) as backend:
        decoder = Decoder(backend)
        run(decoder, problems[:1], rules["greedy"], 16)  # warm-up: first-touch costs out of the figures
        runs = {label: run(decoder, problems, rule, args.max_new_tokens) for label, rule in rules.items()}
    base = runs["greedy"]
    rows = []
    for label, r in runs.items():
        r["changed_completions"] = sum(
            a != b for a, b in zip(r["completions"], base["completions"], strict=True)
        )
        rows.append(
            [
                label,
                r["wall_s"],
                r["wall_s"] / base["wall_s"],
                r["ms_per_step"] / base["ms_per_step"],
                r["steps"],
                r["gated"] / r["steps"],
                r["intervened"] / r["steps"],
                r["lookahead_tokens"] / r["steps"],
                r["changed_completions"],
            ]
        )
    headers = ["rule", "wall s", "x greedy", "x per step", "steps", "gated", "intervened", "rollout tok/step"]
    print(table([*headers, "completions changed"], rows))
    adadec, spa = runs["adadec"], runs["spa"]
    return emit(
        "P7",
        adadec["wall_s"] / base["wall_s"],
        "reported (AdaDec wall / greedy wall)",
        None,
        spa_ratio=round(spa["wall_s"] / base["wall_s"], 3),
        adadec_fire_rate=round(adadec["gated"] / adadec["steps"], 4),
        adadec_rollout_tokens_per_step=round(adadec["lookahead_tokens"] / adadec["steps"], 3),
        problems=len(problems),
        threshold=rules["adadec"].threshold,
        omega=rules["spa"].omega,
    )


if __name__ == "__main__":
    main()
