"""`uscd calibrate`: choose a rule's knobs on a held-out split (never a test set).

--rule uscd (default): the gate threshold, rho and alpha (a grid of eval runs); --rule spa: omega
(a grid of eval runs); --rule adadec: the entropy threshold, learned by teacher forcing the
reference solutions of MBPP train + validation (no generation at all).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from uscd.cli._options import (
    add_batch_option,
    add_model_options,
    add_prompt_style_option,
    check_threads,
    positive_int,
)
from uscd.errors import UscdError
from uscd.methods import MEASURES


def floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate a rule's knobs on MBPP validation", description=__doc__)
    p.add_argument("--rule", choices=["uscd", "spa", "adadec"], default="uscd", help="rule to calibrate")
    p.add_argument("--task", default="mbpp", help="task with a held-out split (default: mbpp)")
    p.add_argument(
        "--split",
        default=None,
        help="held-out split (default: validation = MBPP ids 511-600; adadec: train,validation)",
    )
    p.add_argument("--data", default=None, help="dataset file (default: the hub)")
    p.add_argument("--measure", choices=MEASURES, default="std-norm")
    p.add_argument(
        "--thresholds", type=floats, default=None, help="gate thresholds (default 0.5,0.7,0.8947,0.95)"
    )
    p.add_argument("--rhos", type=floats, default=None, help="contrast strengths (default 0.3,0.7,1.0)")
    p.add_argument("--alphas", type=floats, default=None, help="V_head fractions (default 0.1)")
    p.add_argument("--omegas", type=floats, default=None, help="spa: anchoring strengths (1.1,1.25,1.5,2)")
    p.add_argument("--weighting", choices=["none", "prob"], default="none", help="spa: per-token weighting")
    p.add_argument("--mask", choices=["token", "drop"], default="token", help="spa: how the text is masked")
    p.add_argument("--limit", type=positive_int, default=None)
    p.add_argument("--max-new-tokens", type=positive_int, default=512)
    p.add_argument("--out", default=None, help="grid run folders (default: runs/calibration-<task>)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--quiet", action="store_true")
    add_batch_option(p)
    add_prompt_style_option(p)
    add_model_options(p)
    p.set_defaults(func=run)


def grid_from_args(args: argparse.Namespace):
    from uscd.calibrate import Grid, SpaGrid

    if args.rule == "spa":
        return SpaGrid(omegas=args.omegas or SpaGrid().omegas, weighting=args.weighting, mask=args.mask)
    defaults = Grid(measure=args.measure)
    if args.measure != "std-norm" and args.thresholds is None:
        raise UscdError(f"give --thresholds for the {args.measure} measure (the defaults are for std-norm)")
    return Grid(
        measure=args.measure,
        thresholds=args.thresholds or defaults.thresholds,
        rhos=args.rhos or defaults.rhos,
        alphas=args.alphas or defaults.alphas,
    )


def run(args: argparse.Namespace) -> int:
    from uscd.calibrate import calibrate
    from uscd.cli.eval import model_settings
    from uscd.cli.progress import RichProgress
    from uscd.run.evaluate import Sandbox
    from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings

    check_threads(args.threads)
    options = {"data": args.data, "split": None if args.rule == "adadec" else args.split}
    suffix = "" if args.rule == "uscd" else f"-{args.rule}"
    run_settings = RunSettings(
        task_name=args.task,
        task_options=options,
        methods=[],
        out=Path(args.out or Path("runs") / f"calibration-{args.task}{suffix}"),
        limit=args.limit,
    )
    settings = EvalSettings(
        run_settings,
        model=model_settings(args),
        generation=GenerationSettings(
            max_new_tokens=args.max_new_tokens, batch=args.batch, prompt_style=args.prompt_style
        ),
        sandbox=Sandbox(timeout_s=args.timeout),
    )
    if args.rule == "adadec":
        from uscd.calibrate_adadec import calibrate_adadec

        record = calibrate_adadec(settings, tuple((args.split or "train,validation").split(",")))
    else:
        grid = grid_from_args(args)
        with RichProgress(not args.quiet) as progress:
            record = calibrate(settings, grid, progress=progress)
    shown = ("rule", "knobs", "selected", "baseline", "trigger_thresholds", "fire_rate_teacher_forced")
    print(json.dumps({k: record[k] for k in shown if k in record}, indent=2))
    written = settings.run.out / "calibration.json"
    print(f"calibration written to {written} (use: uscd eval --calibration FILE)")
    return 0
