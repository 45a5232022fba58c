"""`uscd eval`: the methods' grammar, and a run of every method in two stages.

Each method writes its own run folder (OUT/<label>/): the generation stage (uscd.run.generate)
writes samples.jsonl, then the evaluation stage (uscd.run.folder, the code `uscd evaluate` runs)
executes every sample without a result and writes the summary. Both stages resume where a killed
run stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uscd.decoding import Rule, make_rule
from uscd.errors import UscdError
from uscd.run.folder import check_executable, evaluate_run, finish
from uscd.run.generate import MethodRun, generate_method
from uscd.run.progress import Progress, Silent
from uscd.run.settings import EvalSettings, run_config
from uscd.runs import RunFolder
from uscd.tasks import Problem, Task

if TYPE_CHECKING:
    from uscd.generate import Decoder

RULE_NAMES = ("greedy", "sample", "cd", "cfg", "uscd", "uscd-official")
LAME_SOURCES = ("derived", "official")


class Interrupted(UscdError):
    exit_code = 130


# ----------------------------------------------------------------------------------------------
# methods


@dataclass(frozen=True)
class MethodSpec:
    """A labelled rule with its knobs: `[LABEL=]RULE[:key=value...]` on the command line."""

    label: str
    rule: str
    knobs: dict = field(default_factory=dict)
    lame_source: str = "derived"

    def build(self, defaults: dict) -> Rule:
        return make_rule(self.rule, **{**defaults, **self.knobs})


_KNOB_TYPES: dict[str, Callable[[str], Any]] = {
    "rho": float,
    "alpha": float,
    "gamma": float,
    "threshold": float,
    "weight": float,
    "filter": float,
    "filter_num": float,
    "measure": str,
}


def parse_methods(text: str) -> list[MethodSpec]:
    """`greedy,cd,paper=uscd:measure=std-norm:threshold=0.8947,uscd-offl=uscd:lame=official`."""
    specs = [_parse_method(part.strip()) for part in text.split(",") if part.strip()]
    if not specs:
        raise UscdError("no methods given")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise UscdError(f"method labels must be unique, got {', '.join(labels)}")
    return specs


def _parse_method(part: str) -> MethodSpec:
    head, *options = part.split(":")
    label, _, rule = head.partition("=") if "=" in head else (head, "", head)
    if rule not in RULE_NAMES:
        raise UscdError(f"method {part!r}: unknown rule {rule!r}; choose one of {', '.join(RULE_NAMES)}")
    if not label.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UscdError(f"method label {label!r} must be letters, digits, '-', '_' or '.'")
    knobs: dict[str, Any] = {}
    lame_source = "derived"
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep:
            raise UscdError(f"method {part!r}: option {opt!r} is not key=value")
        if key == "lame":
            if value not in LAME_SOURCES:
                raise UscdError(f"method {part!r}: lame must be one of {', '.join(LAME_SOURCES)}")
            lame_source = value
            continue
        if key not in _KNOB_TYPES:
            raise UscdError(f"method {part!r}: unknown knob {key!r}; known: {', '.join(_KNOB_TYPES)}, lame")
        try:
            knobs["filter_num" if key == "filter" else key] = _KNOB_TYPES[key](value)
        except ValueError:
            raise UscdError(f"method {part!r}: {key} needs a number, got {value!r}") from None
    return MethodSpec(label, rule, knobs, lame_source)


# ----------------------------------------------------------------------------------------------
# knobs and warnings


def method_defaults(spec: MethodSpec, settings: EvalSettings) -> dict:
    """Knobs for a method before its own: the calibration (for its rule), then the global flags."""
    calibrated = {}
    if settings.calibration and settings.calibration.get("rule") == spec.rule:
        calibrated = settings.calibration.get("knobs", {})
    return {**calibrated, **{k: v for k, v in settings.rule_defaults.items() if v is not None}}


def calibration_mismatch(calibration: dict | None, model_info: dict) -> str | None:
    """A warning when a calibration's knobs were chosen on another model (allowed, but say so)."""
    made_on = (calibration or {}).get("made_on") or {}
    if not made_on.get("sha256") or made_on["sha256"] == model_info.get("sha256"):
        return None
    return (
        f"the calibration was made on {made_on.get('name', 'another model')}, not on "
        f"{model_info.get('name', 'this model')}; its knobs are used as they are"
    )


# ----------------------------------------------------------------------------------------------
# the run


def load_tasks(settings: EvalSettings) -> dict[str, Task]:
    """One task object per lame source the methods ask for."""
    from uscd.tasks import get_task

    run, tasks = settings.run, {}
    for source in sorted({m.lame_source for m in run.methods}):
        options = dict(run.task_options)
        if source == "official":
            if run.task_name not in ("humaneval",):
                raise UscdError("lame=official exists only for humaneval (the authors released no other)")
            options["lame_source"] = "official"
        tasks[source] = get_task(run.task_name, **options)
    return tasks


@dataclass
class Engine:
    """What every method of one invocation shares: the decoder and what the configs record of it."""

    decoder: Decoder
    batch_size: int
    model_info: dict
    backend_info: dict


def open_engine(settings: EvalSettings) -> Engine:
    from uscd.batched import resolve_batch
    from uscd.generate import open_decoder
    from uscd.models import describe

    model = settings.model
    decoder = open_decoder(model.name, backend=model.backend, n_ctx=model.n_ctx, n_threads=model.threads)
    batch_size = resolve_batch(decoder.backend, settings.generation.batch)
    return Engine(decoder, batch_size, describe(decoder.backend.path), decoder.backend.describe())


def run_eval(settings: EvalSettings, *, progress: Progress | None = None) -> list[dict]:
    """Generate, then evaluate, every method; return one summary per method."""
    progress = progress or Silent()
    settings.validate()
    tasks = load_tasks(settings)
    problems = {src: t.problems(settings.run.limit) for src, t in tasks.items()}
    if not settings.run.generation_only:
        for plist in problems.values():
            check_executable(plist)
    rules = {m.label: m.build(method_defaults(m, settings)) for m in settings.run.methods}
    engine = open_engine(settings)
    if warning := calibration_mismatch(settings.calibration, engine.model_info):
        progress.warn(warning)
    summaries = []
    for spec in settings.run.methods:
        rule = rules[spec.label]
        if warning := rule.gate_warning(engine.decoder.backend.vocab_size):
            progress.warn(f"{spec.label}: {warning}")
        task = tasks[spec.lame_source]
        folder = RunFolder(settings.run.out / spec.label)
        info = (engine.model_info, engine.backend_info, engine.batch_size)
        run = MethodRun(spec, rule, task, folder, folder.open(run_config(settings, task, spec, rule, *info)))
        summaries.append(run_method(run, problems[spec.lame_source], engine, settings, progress))
    return summaries


def run_method(
    run: MethodRun, problems: list[Problem], engine: Engine, settings: EvalSettings, progress: Progress
) -> dict:
    """The two stages of one method: generation, then (unless generation-only) evaluation."""
    try:
        generate_method(run, problems, engine.decoder, settings, engine.batch_size, progress)
        if not settings.run.generation_only:
            return evaluate_run(run.folder, settings.sandbox, task=run.task, progress=progress)
    except KeyboardInterrupt:
        finish(run.folder)
        raise Interrupted(
            f"interrupted during {run.spec.label}; re-run the same command to resume where it stopped"
        ) from None
    finally:
        run.folder.close()
    return finish(run.folder)
