"""The HF transformers backend on a GPU: lame alignment, CPU/GPU agreement, greedy vs USCD tokens/s.

    python benchmarks/gpu_hf_check.py MODEL_DIR [--device cuda] [--dtype float32,bfloat16]
        [--reference cpu.json] [--out result.json]

MODEL_DIR is any HF causal-LM folder with a `prompts.json` ([{"task_id", "prompt"}]) beside the
weights (the device machine reaches no model hub, so the check carries a tiny random Qwen2 with the
real Qwen2.5-Coder tokenizer; see docs/performance.md). Per dtype it reports:

* alignment: at every step where `cd` contrasted, the lame logits the engine used vs a fresh
  prefill of `lame prompt + generated prefix` (max |difference|), and whether the lame sequence
  held exactly those tokens;
* tokens/s of greedy and of USCD (default gate) on the same prompts, and USCD's contrast rate;
* with --reference (this script's JSON from another device): how many greedy completions are
  token-identical to the reference's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from uscd.engine import Decoder, GenerationConfig
from uscd.engine.backends.transformers import TransformersBackend
from uscd.methods import Sampler, make_rule
from uscd.prompts.lame import derive


def alignment(decoder: Decoder, prompts: list[dict], max_new: int) -> dict:
    backend = decoder.backend
    worst, steps, misaligned = 0.0, 0, 0
    fresh = backend.sequence()
    for item in prompts:
        lame = derive(item["prompt"], "python").lame
        captured = []

        def hook(i, view, lame_logits, step, token, captured=captured):
            if step.contrast:
                captured.append((i, np.array(lame_logits, dtype=np.float32), list(decoder.lame.tokens)))

        gen = decoder.generate(
            item["prompt"],
            lame,
            make_rule("cd"),
            Sampler(),
            GenerationConfig(max_new_tokens=max_new),
            hook=hook,
        )
        lame_tokens = backend.tokenize(lame)
        for i, logits, held in captured:
            misaligned += held != lame_tokens + gen.tokens[:i]
            fresh.reset()
            worst = max(worst, float(np.abs(fresh.extend(held) - logits).max()))
            steps += 1
    return {"contrast_steps_checked": steps, "max_abs_diff": round(worst, 6), "misaligned_steps": misaligned}


def speed(decoder: Decoder, prompts: list[dict], rule_name: str, max_new: int) -> dict:
    rule = make_rule(rule_name)
    tokens, contrast, seconds, out = 0, 0, 0.0, {}
    for item in prompts:
        lame = derive(item["prompt"], "python").lame if "lame" in rule.aux else None
        t0 = time.perf_counter()
        gen = decoder.generate(
            item["prompt"], lame, rule, Sampler(), GenerationConfig(max_new_tokens=max_new)
        )
        seconds += time.perf_counter() - t0
        tokens += len(gen.tokens)
        contrast += gen.contrast_steps
        out[item["task_id"]] = gen.tokens
    return {
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 2),
        "contrast_rate": round(contrast / max(tokens, 1), 4),
        "completions": out,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--device", default=None, help="cuda, cpu (default: cuda when available)")
    ap.add_argument("--dtype", default="float32,bfloat16")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--reference", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    prompts = json.loads((args.model / "prompts.json").read_text())
    reference = json.loads(args.reference.read_text()) if args.reference else None
    record: dict = {"model": args.model.name, "prompts": len(prompts), "runs": {}}
    for dtype in args.dtype.split(","):
        backend = TransformersBackend(args.model, device=args.device, dtype=dtype)
        decoder = Decoder(backend)
        speed(decoder, prompts[:1], "greedy", 8)  # warm-up (CUDA context, kernels)
        run = {"device": backend.device, "dtype": dtype}
        run["alignment"] = alignment(decoder, prompts, args.max_new_tokens)
        run["greedy"] = speed(decoder, prompts, "greedy", args.max_new_tokens)
        run["uscd"] = speed(decoder, prompts, "uscd", args.max_new_tokens)
        run["uscd_over_greedy_time"] = round(run["greedy"]["tokens_per_s"] / run["uscd"]["tokens_per_s"], 3)
        if reference and dtype in reference["runs"]:
            ref = reference["runs"][dtype]["greedy"]["completions"]
            mine = run["greedy"]["completions"]
            run["greedy_identical_to_reference"] = sum(mine[t] == ref.get(t) for t in mine)
        record["runs"][dtype] = run
        a, g, u = run["alignment"], run["greedy"], run["uscd"]
        print(
            f"{backend.device} {dtype}: alignment max|diff| {a['max_abs_diff']:.2e} over "
            f"{a['contrast_steps_checked']} contrast steps ({a['misaligned_steps']} misaligned); greedy "
            f"{g['tokens_per_s']} tok/s, uscd {u['tokens_per_s']} tok/s (contrast {u['contrast_rate']:.1%})"
            + (
                f"; greedy identical to reference {run['greedy_identical_to_reference']}/{len(prompts)}"
                if "greedy_identical_to_reference" in run
                else ""
            ),
            flush=True,
        )
        del decoder, backend
    if args.out:
        args.out.write_text(json.dumps(record, indent=1))
    print(
        json.dumps(
            {k: v for k, v in record.items() if k != "runs"}
            | {
                d: {k: v for k, v in r.items() if k not in ("greedy", "uscd")}
                for d, r in record["runs"].items()
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
