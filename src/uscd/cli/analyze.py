"""`uscd analyze premise RUN_DIR`: test USCD's premise on a committed greedy run (docs/premise.md);
`uscd analyze program-a RUN_DIR`: score a branch run's program A (docs/branch.md).

For every failing problem of the run: re-decode the greedy program, force other V_head tokens at
its K most uncertain steps, continue greedily, run the full tests (the single-flip oracle). Lines
go to RUN_DIR/premise/oracle.jsonl (resumable), the statistics to RUN_DIR/premise/summary.json.
`--summary-only` recomputes the summary from the lines and loads no model; `--batch N` studies N
problems at once (their programs decoded in one batch while others run in the sandbox).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from uscd.cli._options import check_threads, positive_int
from uscd.errors import UscdError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyses of committed runs (the premise study, a search's program A)",
        description=__doc__,
    )
    kinds = p.add_subparsers(dest="analysis", metavar="ANALYSIS", parser_class=type(p))
    kinds.required = True
    premise = kinds.add_parser("premise", help="the single-flip oracle on a greedy run", description=__doc__)
    premise.add_argument("run_dir", metavar="RUN_DIR", help="a greedy run folder with results.jsonl")
    premise.add_argument("--k", type=positive_int, default=5, help="most uncertain steps flipped (default 5)")
    premise.add_argument(
        "--m", type=positive_int, default=4, help="other V_head tokens forced per step (default 4)"
    )
    premise.add_argument("--alpha", type=float, default=0.1, help="V_head: p >= alpha·max p (default 0.1)")
    premise.add_argument("--limit", type=positive_int, default=None, help="only the first N failing problems")
    premise.add_argument(
        "--accept-redecoded",
        action="store_true",
        help="analyse a re-decoded program that differs from the committed one (if it fails its tests)",
    )
    premise.add_argument(
        "--summary-only", action="store_true", help="recompute summary.json from oracle.jsonl; no model"
    )
    premise.add_argument(
        "--batch",
        type=positive_int,
        default=1,
        help="problems studied at once on one batched decode loop (default 1: one stream, bit-for-bit"
        " reproducible; a batch re-decodes near-tie tokens differently, so pair it with --accept-redecoded)",
    )
    g = premise.add_argument_group("model (default: the run's own)")
    g.add_argument("--model", default=None, help="registry name or .gguf path (default: the run's model)")
    g.add_argument("--threads", type=int, default=None, help="CPU threads (default: the run's)")
    g.add_argument("--timeout", type=float, default=None, help="seconds per program (default: the run's)")
    g.add_argument("--sandbox", choices=["auto", "namespace", "process"], default="auto", help="isolation")
    premise.set_defaults(func=run_premise_cmd)
    a = kinds.add_parser(
        "program-a",
        help="score a branch run's program A (the search paired with its own start)",
        description=program_a_doc(),
    )
    a.add_argument("run_dir", metavar="RUN_DIR", help="a branch (program search) run folder with traces")
    a.add_argument("--timeout", type=float, default=None, help="seconds per program (default: the run's)")
    a.add_argument("--sandbox", choices=["auto", "namespace", "process"], default="auto", help="isolation")
    a.add_argument("--workers", type=positive_int, default=None, help="parallel programs (default: cores)")
    a.set_defaults(func=run_program_a_cmd)


def program_a_doc() -> str:
    from uscd.analysis import program_a

    return program_a.__doc__ or ""


def run_program_a_cmd(args: argparse.Namespace) -> int:
    """RUN_DIR/program-a: written from the traces, executed (resumable), then paired with the run."""
    from uscd.analysis import program_a
    from uscd.cli.eval import sandbox_of
    from uscd.run.folder import evaluate_run, problems_of_run, task_of_run
    from uscd.runs import RunFolder

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UscdError(f"{run_dir} is not a folder")
    config = RunFolder(run_dir).read_config()
    task = task_of_run(config)
    folder = program_a.write_program_a(run_dir, problems_of_run(config, task))
    timeout = (config.get("sandbox_limits") or {}).get("timeout_s")
    summary = evaluate_run(folder, sandbox_of(args, timeout), task=task)
    p = program_a.paired_with_a(run_dir)
    print(f"{folder.path}: program A pass@1 {summary.get('pass@1', 0):.1%} ({p['a_passed']}/{p['samples']})")
    print(
        f"{run_dir} vs its program A: {p['search_passed']}/{p['samples']} pass; fixed {p['fixed']}, "
        f"broken {p['broken']} (exact McNemar p = {p['p_value']:.2g})"
    )
    return 0


def run_premise_cmd(args: argparse.Namespace) -> int:
    from uscd.analysis import study

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UscdError(f"{run_dir} is not a folder")
    summary = study.write_summary(run_dir) if args.summary_only else _run(args, run_dir)
    print_summary(summary, run_dir)
    return 0


def _run(args: argparse.Namespace, run_dir: Path) -> dict:
    from uscd.analysis import study
    from uscd.analysis.oracle import OracleSettings, sandbox_judge
    from uscd.run.folder import check_executable, task_of_run
    from uscd.runs import RunFolder

    check_threads(args.threads)
    folder = RunFolder(run_dir)
    config = folder.read_config()
    study.check_greedy_run(config, run_dir)
    study.failing_samples(folder)  # refuse a run without results before any model loads
    max_new = (config.get("generation") or {}).get("max_new_tokens", 512)
    settings = OracleSettings(
        k=args.k, m=args.m, alpha=args.alpha, max_new_tokens=max_new, accept_redecoded=args.accept_redecoded
    )
    task = task_of_run(config)
    check_executable(task.problems())  # a language whose toolchain is missing: one line, no model loaded
    timeout = args.timeout or (config.get("sandbox_limits") or {}).get("timeout_s", 10.0)
    judge = sandbox_judge(timeout, args.sandbox)
    decoder, model = open_run_decoder(config, args.model, args.threads)
    return study.run_study(
        run_dir,
        decoder,
        task,
        settings,
        judge,
        model=model,
        limit=args.limit,
        batch=args.batch,
        on_line=_print_line,
    )


def model_of_run(config: dict) -> str | None:
    """The run's model: its registry name when it has one, else the file it was loaded from."""
    from uscd import models

    name = (config.get("model") or {}).get("name")
    if name and models.lookup(name) is not None:
        return name
    return config.get("model_location") or name


def open_run_decoder(config: dict, model: str | None, threads: int | None):
    """A single-stream decoder of the run's model (or `model`) with the run's context and threads."""
    from uscd.engine import open_decoder
    from uscd.models import describe

    backend_info = config.get("backend") or {}
    backend = "llama" if backend_info.get("backend", "llama.cpp") == "llama.cpp" else "hf"
    decoder = open_decoder(
        model or model_of_run(config),
        backend=backend,
        n_ctx=int(backend_info.get("n_ctx", 4096)),
        n_threads=threads or config.get("threads"),
    )
    info = describe(Path(decoder.backend.path))
    made_with = (config.get("model") or {}).get("sha256")
    if made_with and info.get("sha256") != made_with:
        print(f"uscd analyze: warning: {info.get('name')} is not the model the run used", file=sys.stderr)
    return decoder, info


def _print_line(line: dict) -> None:
    flips = line.get("flips") or []
    passed = sum(f["passed"] for f in flips)
    print(f"{line['task_id']}: {line['status']} ({len(flips)} flips, {passed} pass) {line.get('reason', '')}")


def print_summary(summary: dict, run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"premise study: {run_dir}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in summary_rows(summary):
        table.add_row(name, value)
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def summary_rows(summary: dict) -> list[tuple[str, str]]:
    """The summary's headline figures, as (name, value) rows."""
    counts, where = summary["counts"], summary["positions"]
    rows = [
        ("failing problems (lines)", str(counts["problems"])),
        ("status", ", ".join(f"{k} {v}" for k, v in counts["status"].items()) or "-"),
        (
            "fixable by one flip",
            f"{counts['fixable']} of {counts['analysed']} ({_pct(counts['fixable_share'])})",
        ),
        ("… by the runner-up token", str(counts["fixable_by_runner_up"])),
        ("flips (passing)", f"{counts['flips']} ({counts['passing_flips']})"),
        ("fixing steps by uncertainty rank", _hist(where["rank"])),
        ("fixing steps by step index", _hist(where["step"])),
    ]
    for name, picks in summary["contrast_picks"].items():
        rows.append(
            (
                f"contrast picks a fixing token ({name}, ρ {picks['rho']})",
                f"{picks.get('pick_fixes', 0)} of {picks.get('fixing_steps', 0)} fixing steps"
                f" (gate fires: {picks.get('pick_fixes_gate_fires', 0)})",
            )
        )
    for population in ("tried", "all"):
        aurocs = summary["auroc"][population]
        values = ", ".join(
            f"{m} {_num(aurocs[m])}" for m in ("std-norm", "entropy", "margin", "maxprob", "js")
        )
        rows.append((f"AUROC for fixing steps ({population} steps)", values))
    js = summary["js"]
    shuffled = _num(js["profile_js_shuffled_mean"])
    value = f"{_num(js['profile_js_mean'])} (shuffled {shuffled}; {js['programs']} programs)"
    rows.append(("profile JS (uncertainty vs lame noise)", value))
    return rows


def _hist(h: dict) -> str:
    return " ".join(f"{k}:{v}" for k, v in h.items()) or "-"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
