"""`uscd generate`: decode one prompt with a rule; show the per-token trace."""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from uscd.cli._options import (
    PYTHON_STOPS,
    add_model_options,
    add_prompt_style_option,
    add_rule_options,
    check_threads,
    positive_int,
    rule_from_args,
    rule_knobs,
    sampler_from_args,
)
from uscd.errors import UscdError
from uscd.methods import make_rule


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a completion for one prompt", description=__doc__)
    p.add_argument("prompt", nargs="?", default=None, help="prompt file ('-' or omitted: stdin)")
    p.add_argument(
        "--demo", action="store_true", help="use the built-in demo prompt (a small Python function)"
    )
    p.add_argument("--lame", default=None, help="lame prompt file (default: derived automatically)")
    p.add_argument("--language", default="python", help="prompt language, for the automatic lame prompt")
    p.add_argument("--max-new-tokens", type=positive_int, default=512)
    p.add_argument(
        "--stop", action="append", default=None, help="stop sequence (repeatable; default: Python's)"
    )
    p.add_argument("--no-stop", action="store_true", help="no stop sequences (EOS or max-new-tokens only)")
    p.add_argument("--sync", choices=["lazy", "eager"], default="lazy", help="lame-context update policy")
    p.add_argument("--trace", action="store_true", help="print the coloured per-token trace")
    p.add_argument("--json", action="store_true", help="print one JSON object (completion, stats, trace)")
    add_prompt_style_option(p)
    add_model_options(p)
    add_rule_options(p)
    p.add_argument(
        "--preset",
        default=None,
        help="the model's measured method by name (e.g. branch: docs/branch.md), instead of --rule "
        "and its knobs",
    )
    p.set_defaults(func=run, rule=None)  # --rule's default (uscd) is applied when no preset is given


def read_text(path: str | None, what: str) -> str:
    if path in (None, "-"):
        if sys.stdin is None or sys.stdin.isatty():
            raise UscdError(f"no {what} given: pass a file, pipe it on stdin, or use --demo")
        return sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        raise UscdError(f"{what} file {path} does not exist")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UscdError(f"{what} file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise UscdError(f"cannot read {what} file {path}: {exc.strerror}") from None


def demo_prompt() -> str:
    return resources.files("uscd").joinpath("data/demo_prompt.py").read_text()


def lame_for(prompt: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """The lame prompt (given or derived) and warnings about it."""
    if args.lame is not None:
        lame = read_text(args.lame, "lame prompt")
    else:
        try:
            from uscd.prompts.lame import derive
        except ImportError:
            raise UscdError(
                "no lame prompt: pass --lame FILE (automatic lame prompts are not installed)"
            ) from None
        lame = derive(prompt, args.language).lame
    warnings = []
    if lame == prompt:
        warnings.append(
            "the lame prompt equals the standard prompt: the contrast is a no-op (output = greedy)"
        )
    return lame, warnings


def aux_for(prompt: str, rule, args: argparse.Namespace) -> tuple[dict[str, str], list[str]]:
    """The auxiliary prompts the rule reads (the lame prompt given or derived; the others built from
    the prompt) and warnings about them."""
    from uscd.prompts.auxiliary import FROM_PROMPT

    aux: dict[str, str] = {}
    warnings: list[str] = []
    for name in rule.aux:
        if name == "lame":
            aux[name], warnings = lame_for(prompt, args)
        else:
            aux[name] = FROM_PROMPT[name](prompt)
            if aux[name] == prompt:
                warnings.append(f"the prompt has no description to mask: {rule.name} decodes like greedy")
    return aux, warnings


def run(args: argparse.Namespace) -> int:
    from uscd.engine import GenerationConfig, open_decoder
    from uscd.prompts.auxiliary import FROM_PROMPT

    check_threads(args.threads)
    prompt = demo_prompt() if args.demo else read_text(args.prompt, "prompt")
    if not prompt.strip():
        raise UscdError("the prompt is empty")
    rule, preset = chosen_rule(args)
    sampler = sampler_from_args(args, args.rule or rule.name)
    aux, warnings = aux_for(prompt, rule, args)
    decoder = open_decoder(
        args.model, backend=args.backend, n_ctx=args.n_ctx, n_threads=args.threads, dtype=args.dtype
    )
    if gate := rule.gate_warning(decoder.backend.vocab_size):
        warnings.append(gate)
    chat = as_chat(prompt, aux.get("lame"), args, decoder) if args.prompt_style == "chat" else None
    if chat is not None:  # the masked prompts mask the description inside the chat message
        prompt = chat.prompt
        aux = {name: chat.lame_prompt if name == "lame" else FROM_PROMPT[name](prompt) for name in aux}
    stops = () if args.no_stop else tuple(args.stop) if args.stop else chat.stop if chat else PYTHON_STOPS
    config = GenerationConfig(max_new_tokens=args.max_new_tokens, stop=stops, sync=args.sync)
    from uscd.cli.trace_view import print_warnings

    print_warnings(warnings)
    gen = decode(decoder, prompt, aux, rule, sampler, config, chat, args.language)
    if args.json:
        out = result_json(gen, rule, sampler, warnings, preset)
        if chat is not None:
            out.update(
                prompt=prompt, reply=chat.reply_prefix + gen.completion, code=chat.code(gen.completion)
            )
        print(json.dumps(out, ensure_ascii=False))
        return 0
    from uscd.cli.trace_view import print_code, print_generation

    print_generation(prompt, gen, rule, show_trace=args.trace)
    if gen.search is not None:
        from uscd.cli.trace_view import print_search

        print_search(gen.search)
    if chat is not None:
        print_code(chat.code(gen.completion))
    return 0


def chosen_rule(args: argparse.Namespace) -> tuple:
    """The rule of --rule and its knobs, or of --preset (the model's, with its knobs): (rule, preset);
    a program search (branch) is refused here where it cannot run."""
    preset = None
    if args.preset is None:
        rule = rule_from_args(args, args.rule or "uscd")
    else:
        preset = preset_of(args)
        rule = make_rule(preset.rule, **preset.knobs)
        print(f"preset {preset.name}: {preset.rule} {preset.knobs}; {preset.evidence}", file=sys.stderr)
    if rule.program_search:
        from uscd.prompts.lame import normalize_language
        from uscd.search.branch import check_setting

        check_setting(rule, normalize_language(args.language))
    return rule, preset


def preset_of(args: argparse.Namespace):
    from uscd.methods.presets import find_preset

    if args.rule is not None or any(v is not None for v in rule_knobs(args).values()):
        raise UscdError("--preset sets the rule and its knobs: drop --rule and the knob options")
    return find_preset(args.preset, args.model)


def decode(decoder, prompt: str, aux: dict, rule, sampler, config, chat=None, language: str = "python"):
    """One decode, or the program search of a rule that searches (the branch method); in chat mode
    the search reads its checks from the task text and runs them on the reply's code."""
    if not rule.program_search:
        return decoder.generate(prompt, aux, rule, sampler, config)
    from uscd.engine import Request
    from uscd.prompts.lame import normalize_language
    from uscd.search import run_search
    from uscd.search.subject import completion_subject, problem_subject

    subject = (
        problem_subject(chat)
        if chat is not None
        else completion_subject(prompt, normalize_language(language))
    )
    return run_search(decoder, Request(prompt, aux or None, rule, sampler, config, subject=subject))


def as_chat(prompt: str, lame: str | None, args: argparse.Namespace, decoder):
    """The prompt asked through the model's chat template; the decoder then tokenises chat markup."""
    import re

    from uscd.prompts.chat import ChatFormat, ChatMarkup
    from uscd.prompts.lame import normalize_language
    from uscd.tasks import Problem

    language = normalize_language(args.language)
    names = re.findall(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", prompt, re.M) if language == "python" else []
    problem = Problem(
        task_id="prompt",
        prompt=prompt,
        lame_prompt=lame,
        stop=(),
        entry_point=names[-1] if names else "",
        program_head="",
        program_tail="",
        language=language,
    )
    chat = ChatFormat.from_backend(decoder.backend).problem(problem)
    decoder.backend = ChatMarkup(decoder.backend)
    return chat


def result_json(gen, rule, sampler, warnings: list[str], preset=None) -> dict:
    from dataclasses import asdict

    return {
        "completion": gen.completion,
        "finish_reason": gen.finish_reason,
        "rule": rule.name,
        "knobs": rule.knobs(),
        **({"preset": preset.describe()} if preset is not None else {}),
        "sampler": {
            "temperature": sampler.temperature,
            "top_p": sampler.top_p,
            "top_k": sampler.top_k,
            "seed": sampler.seed,
        },
        "stats": gen.stats(),
        "warnings": warnings,
        "trace": [asdict(t) for t in gen.trace],
        **({"search": gen.search} if gen.search is not None else {}),
    }
