"""The HF transformers backend on a GPU: lame alignment, CPU/GPU agreement, greedy vs USCD tokens/s.

    python benchmarks/gpu_hf_check.py MODEL_DIR [--device cuda] [--dtype float32,bfloat16]
        [--reference cpu.json] [--out result.json] [--batches 1,8,32]
    python benchmarks/gpu_hf_check.py --random-qwen2 0.5b --dtype bfloat16 --limit 8 [--batches 1,8,32]

MODEL_DIR is any HF causal-LM folder with a `prompts.json` ([{"task_id", "prompt"}]) beside the
weights (the device machine reaches no model hub, so the check carries a tiny random Qwen2 with the
real Qwen2.5-Coder tokenizer; see docs/performance.md). Per dtype it reports:

* alignment: at every step where `cd` contrasted, the lame logits the engine used vs a fresh
  prefill of `lame prompt + generated prefix` (max |difference|), and whether the lame sequence
  held exactly those tokens;
* tokens/s of greedy and of USCD (default gate) on the same prompts, and USCD's contrast rate;
* with --reference (this script's JSON from another device): how many greedy completions are
  token-identical to the reference's;
* batching: tokens/s of the batched HF backend (``BatchedDecoder``) at each of --batches (1 = the
  single-sequence path), greedy and USCD, on 2 x the largest batch prompts, and whether every
  batched greedy completion equals the batch-1 one.

``--random-qwen2 tiny|0.5b`` builds a random-weight model of that Qwen2 shape (0.5b: Qwen2.5's
24 layers, hidden 896, 14 heads / 2 KV heads, 151,936 logits) with a small trained byte-level
tokenizer instead of MODEL_DIR, and HumanEval-like prompts; its speeds are the architecture's, its
completions are noise.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from uscd.engine import BatchedDecoder, Decoder, GenerationConfig, Request
from uscd.engine.backends.tiny_hf import build_tiny_qwen2
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


SHAPES = {
    "tiny": {},
    "0.5b": {"hidden_size": 896, "layers": 24, "heads": 14, "kv_heads": 2, "init_range": 0.02},
}
QWEN2_LOGITS = 151936


def random_model(shape: str, folder: Path) -> Path:
    build_tiny_qwen2(folder, **SHAPES[shape])
    if shape != "tiny":  # Qwen's padded output width, whatever the small tokenizer's size
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(folder)
        model.resize_token_embeddings(QWEN2_LOGITS, mean_resizing=False)
        model.save_pretrained(folder)
    prompts = [{"task_id": f"synthetic/{i}", "prompt": _synthetic_prompt(i)} for i in range(64)]
    (folder / "prompts.json").write_text(json.dumps(prompts))
    return folder


def _synthetic_prompt(i: int) -> str:
    n, m = i % 7 + 1, i % 5 + 2
    example = f">>> f{i}({list(range(m))})\n    {sum(range(min(n, m)))}"
    doc = f"Return the sum of the first {n} items of xs.\n    {example}"
    return f'def f{i}(xs: list[int]) -> int:\n    """{doc}\n    """\n' + "    # " + "step " * (i % 13) + "\n"


def batching(backend, prompts: list[dict], batches: list[int], max_new: int) -> dict:
    """tokens/s per batch size and rule; batched greedy completions vs the batch-1 ones."""
    out: dict = {}
    items = prompts[: 2 * max(batches)]
    for rule_name in ("greedy", "uscd"):
        rule = make_rule(rule_name)
        cfg = GenerationConfig(max_new_tokens=max_new)
        requests = [
            Request(
                p["prompt"], derive(p["prompt"], "python").lame if rule.aux else None, rule, Sampler(), cfg
            )
            for p in items
        ]
        baseline = None
        for size in batches:
            t0 = time.perf_counter()
            if size == 1:
                dec = Decoder(backend)
                gens = dict(
                    enumerate(dec.generate(r.prompt, r.aux_prompts, rule, r.sampler, cfg) for r in requests)
                )
            else:
                bd = BatchedDecoder(backend, size)
                gens = dict(bd.generate_many(requests))
                bd.close()
            seconds = time.perf_counter() - t0
            tokens = sum(len(g.tokens) for g in gens.values())
            row = {"tokens": tokens, "tokens_per_s": round(tokens / seconds, 2)}
            if baseline is None:
                baseline = {k: g.tokens for k, g in gens.items()}
            row["identical_to_batch_1"] = sum(gens[k].tokens == baseline[k] for k in baseline)
            out.setdefault(rule_name, {})[str(size)] = row
    return out


def check_dtype(args, dtype: str, prompts: list[dict], batches: list[int], reference) -> dict:
    """Every section for one dtype, printed as it completes."""
    backend = TransformersBackend(args.model, device=args.device, dtype=dtype)
    decoder = Decoder(backend)
    speed(decoder, prompts[:1], "greedy", 8)  # warm-up (CUDA context, kernels)
    run = {"device": backend.device, "dtype": dtype}
    some = prompts[: args.limit]
    run["alignment"] = alignment(decoder, some, args.max_new_tokens)
    run["greedy"] = speed(decoder, some, "greedy", args.max_new_tokens)
    run["uscd"] = speed(decoder, some, "uscd", args.max_new_tokens)
    run["uscd_over_greedy_time"] = round(run["greedy"]["tokens_per_s"] / run["uscd"]["tokens_per_s"], 3)
    if batches:
        run["batching"] = batching(backend, prompts, batches, args.max_new_tokens)
        for rule_name, by_size in run["batching"].items():
            print(
                f"{backend.device} {dtype} {rule_name} tokens/s by batch: "
                + ", ".join(f"{b}: {r['tokens_per_s']}" for b, r in by_size.items()),
                flush=True,
            )
    if reference and dtype in reference["runs"]:
        ref = reference["runs"][dtype]["greedy"]["completions"]
        mine = run["greedy"]["completions"]
        run["greedy_identical_to_reference"] = sum(mine[t] == ref.get(t) for t in mine)
    a, g, u = run["alignment"], run["greedy"], run["uscd"]
    print(
        f"{backend.device} {dtype}: alignment max|diff| {a['max_abs_diff']:.2e} over "
        f"{a['contrast_steps_checked']} contrast steps ({a['misaligned_steps']} misaligned); greedy "
        f"{g['tokens_per_s']} tok/s, uscd {u['tokens_per_s']} tok/s (contrast {u['contrast_rate']:.1%})"
        + (
            f"; greedy identical to reference {run['greedy_identical_to_reference']}/{len(some)}"
            if "greedy_identical_to_reference" in run
            else ""
        ),
        flush=True,
    )
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, nargs="?", help="an HF model folder with prompts.json")
    ap.add_argument("--random-qwen2", choices=sorted(SHAPES), default=None, help="build a random model")
    ap.add_argument("--batches", default="1,8,32", help="batch sizes for the batching section ('' skips it)")
    ap.add_argument("--device", default=None, help="cuda, cpu (default: cuda when available)")
    ap.add_argument("--dtype", default="float32,bfloat16")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--limit", type=int, default=None, help="prompts for alignment and speed (default: all)")
    ap.add_argument("--reference", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.random_qwen2:
        built = tempfile.TemporaryDirectory(prefix="uscd-qwen2-")
        args.model = random_model(args.random_qwen2, Path(built.name))
    elif args.model is None:
        ap.error("give MODEL_DIR or --random-qwen2")
    prompts = json.loads((args.model / "prompts.json").read_text())
    batches = [int(b) for b in args.batches.split(",") if b]
    reference = json.loads(args.reference.read_text()) if args.reference else None
    record: dict = {"model": args.model.name, "prompts": len(prompts), "runs": {}}
    for dtype in args.dtype.split(","):
        record["runs"][dtype] = check_dtype(args, dtype, prompts, batches, reference)
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
