"""Per-token Python overhead of the decoding loop (not one of the five figures; see docs/performance.md).

1. cProfile over greedy and USCD generations: the share of wall time spent inside
   ``llama_decode`` and the Python time per step outside it, with the top functions.
2. The per-step numpy work of the rules on real logits rows captured from the model
   (StdView + needs_aux + score + select; the lame row's part on contrast steps), in microseconds.

    flock /tmp/uscd-model.lock python benchmarks/profile_step.py [--limit 4] [--top 12]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import numpy as np

from _common import humaneval, model_lock, open_backend, table


def profile_run(decoder, problems, rule, max_new, top):
    from uscd.engine import GenerationConfig
    from uscd.methods import Sampler

    prof = cProfile.Profile()
    steps = 0
    t0 = time.perf_counter()
    prof.enable()
    for p in problems:
        lame = p.lame_prompt if "lame" in rule.aux else None
        g = decoder.generate(p.prompt, lame, rule, Sampler(), GenerationConfig(max_new, p.stop))
        steps += g.steps
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    # llama_decode is a ctypes call: its time is the own time of the wrapper that makes it
    decode_s = sum(
        v[2] for k, v in stats.stats.items() if k[0].endswith("llama_cpp.py") and k[2] == "_decode"
    )
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return wall, decode_s, steps, buf.getvalue()


def capture_rows(decoder, problems, max_new):
    from uscd.engine import GenerationConfig
    from uscd.methods import Sampler, make_rule

    rows = []

    def hook(i, view, lame, step, token):
        rows.append((view.logits.copy(), None if lame is None else lame.copy()))

    for p in problems:
        decoder.generate(
            p.prompt, p.lame_prompt, make_rule("cd"), Sampler(), GenerationConfig(max_new, p.stop), hook=hook
        )
    return rows


def step_costs(rows, repeats=5):
    """Median microseconds per step of the rules' numpy work on captured rows."""
    from uscd.methods import Sampler, StdView, make_rule

    sampler = Sampler()
    out = {}
    for name in ("greedy", "uscd", "cd"):
        rule = make_rule(name)
        best = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for std, lame in rows:
                view = StdView(std)
                need = "lame" in rule.aux and rule.needs_aux(view)
                step = rule.score(view, lame if need else None)
                token = sampler.select(step.scores)
                _ = view.greedy_token, token
            best.append((time.perf_counter() - t0) / len(rows) * 1e6)
        out[name] = float(np.median(best))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--quiet", action="store_true", help="no cProfile listings")
    args = ap.parse_args(argv)

    from uscd.engine import Decoder
    from uscd.methods import make_rule

    problems = humaneval(args.limit)
    rows_out = []
    result = {}
    with model_lock(), open_backend(args.model) as backend:
        decoder = Decoder(backend)
        profile_run(decoder, problems[:1], make_rule("greedy"), 8, 1)  # warm-up
        for name in ("greedy", "uscd"):
            wall, decode_s, steps, listing = profile_run(
                decoder, problems, make_rule(name), args.max_new_tokens, args.top
            )
            py_ms = 1000 * (wall - decode_s) / steps
            rows_out.append([name, steps, wall, decode_s / wall, py_ms, 1000 * wall / steps])
            result[name] = {"decode_share": round(decode_s / wall, 4), "python_ms_per_step": round(py_ms, 3)}
            if not args.quiet:
                print(f"--- cProfile, {name} (top {args.top} by own time)\n{listing}")
        rows = capture_rows(decoder, problems[:2], 64)
    print("Per-step cost under cProfile (its own overhead inflates the Python part)")
    print(table(["rule", "steps", "wall s", "in llama_decode", "python ms/step", "ms/step"], rows_out))
    costs = step_costs(rows)
    print(f"\nRules' numpy work per step on {len(rows)} captured rows (no profiler), microseconds:")
    print(table(["rule", "us/step"], [[k, v] for k, v in costs.items()]))
    result["numpy_us_per_step"] = {k: round(v, 1) for k, v in costs.items()}
    return result


if __name__ == "__main__":
    main()
