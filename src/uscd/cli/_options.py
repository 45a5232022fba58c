"""Flags shared by the subcommands that decode: model, rule knobs, sampling."""

from __future__ import annotations

import argparse

from uscd.errors import UscdError
from uscd.methods import DEFAULT_THRESHOLDS, MEASURES, RULES, Rule, Sampler, make_rule

PYTHON_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert ")


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, help="registry name or .gguf path (default: the embedded 0.5B)")
    g.add_argument(
        "--backend", default="llama", choices=["llama", "hf"], help="model runtime (default: llama)"
    )
    g.add_argument("--n-ctx", type=int, default=4096, help="tokens per sequence (default: 4096)")
    g.add_argument("--threads", type=int, default=None, help="CPU threads (default: all usable cores)")
    g.add_argument(
        "--dtype",
        default=None,
        choices=["float32", "bfloat16", "float16", "fp32", "bf16", "fp16"],
        help="hf backend: weights and activations (default: bfloat16 on CUDA, float32 on CPU)",
    )


def add_rule_options(p: argparse.ArgumentParser, *, with_rule: bool = True) -> None:
    g = p.add_argument_group("decoding rule")
    if with_rule:
        g.add_argument("--rule", default="uscd", choices=list(RULES), help="decoding rule (default: uscd)")
    g.add_argument("--rho", type=float, default=None, help="cd/uscd: contrast strength (default 0.7)")
    g.add_argument(
        "--alpha", type=float, default=None, help="cd/uscd: V_head keeps p >= alpha*max p (default 0.1)"
    )
    g.add_argument(
        "--measure",
        choices=MEASURES,
        default=None,
        help="uscd/branch: uncertainty measure (default std-norm)",
    )
    g.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="uscd/uscd-official/adadec: gate threshold (defaults: "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_THRESHOLDS.items())
        + "; uscd-official std 0.005; adadec entropy, learned per model)",
    )
    g.add_argument("--gamma", type=float, default=None, help="cfg: guidance scale (default 1.5)")
    g.add_argument(
        "--weight", type=float, default=None, help="uscd-official: w in p_std - w*p_lame (default 0.7)"
    )
    g.add_argument(
        "--filter", dest="filter_num", type=float, default=None, help="uscd-official: mean filter (0.667)"
    )
    g.add_argument("--omega", type=float, default=None, help="spa: anchoring strength ω (default 1.5)")
    g.add_argument(
        "--weighting", choices=["none", "prob"], default=None, help="spa: per-token weighting (default none)"
    )
    g.add_argument(
        "--mask",
        choices=["token", "drop"],
        default=None,
        help="spa: the description replaced by <unk> (token, default) or removed (drop)",
    )
    g.add_argument("--beams", type=int, default=None, help="adadec: candidates rolled out (default 3)")
    g.add_argument("--length", type=int, default=None, help="adadec: lookahead tokens L (default 5)")
    g.add_argument(
        "--branch-steps", dest="k", type=int, default=None, help="branch: uncertain steps K (default 3)"
    )
    g.add_argument(
        "--branch-alternatives", dest="m", type=int, default=None, help="branch: tokens per step (default 2)"
    )
    g.add_argument("--max-branches", type=int, default=None, help="branch: branches per problem (default 6)")
    g.add_argument(
        "--max-branch-tokens", type=int, default=None, help="branch: branch tokens per problem (0 = no cap)"
    )
    g.add_argument(
        "--filter-samples", dest="n", type=int, default=None, help="filter: programs sampled (default 4)"
    )
    s = p.add_argument_group("sampling")
    s.add_argument("--temperature", type=float, default=None, help="0 = argmax (default 0; `sample`: 0.8)")
    s.add_argument("--top-p", type=float, default=1.0, help="nucleus mass (default 1.0)")
    s.add_argument("--top-k", type=int, default=0, help="keep the k best tokens (default 0 = off)")
    s.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")


def rule_knobs(args: argparse.Namespace) -> dict:
    names = (
        "rho",
        "alpha",
        "gamma",
        "weight",
        "filter_num",
        "measure",
        "omega",
        "weighting",
        "mask",
        "beams",
        "length",
        "k",
        "m",
        "max_branches",
        "max_branch_tokens",
        "n",
    )
    knobs = {k: getattr(args, k, None) for k in names}
    if args.threshold is not None:
        knobs["threshold"] = args.threshold
    elif getattr(args, "measure", None):
        knobs["threshold"] = DEFAULT_THRESHOLDS[args.measure]
    return knobs


def rule_from_args(args: argparse.Namespace, name: str | None = None) -> Rule:
    return make_rule(name or args.rule, **rule_knobs(args))


def temperature_for(rule_name: str, args: argparse.Namespace) -> float:
    if args.temperature is not None:
        return args.temperature
    return 0.8 if rule_name == "sample" else 0.0


def sampler_from_args(args: argparse.Namespace, rule_name: str, seed: int | None = None) -> Sampler:
    return Sampler(
        temperature=temperature_for(rule_name, args),
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed if seed is None else seed,
    )


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {value!r}") from None


def add_batch_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--batch",
        type=batch_size,
        default=1,
        help="problems decoded together in one context (default 1: one at a time); auto = the faster "
        "path for this model, measured once and cached. Batched kernels round differently with the "
        "batch's composition, so outputs differ from --batch 1 at near-ties",
    )


def add_prompt_style_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prompt-style",
        choices=["completion", "chat"],
        default="completion",
        help="completion (default): the model continues the prompt; chat: the task is asked through the "
        "model's chat template as evalplus asks instruct models, and the code is taken from the reply",
    )


def check_threads(n: int | None) -> None:
    if n is not None and n < 1:
        raise UscdError(f"--threads must be at least 1, got {n}")
