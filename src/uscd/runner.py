"""`uscd eval`: the methods' grammar, and a run of every method in two stages.

Each method writes its own run folder (OUT/<label>/): the generation stage (uscd.run.generate)
writes samples.jsonl, then the evaluation stage (uscd.run.folder, the code `uscd evaluate` runs)
executes every sample without a result and writes the summary. Both stages resume where a killed
run stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from uscd.errors import UscdError
from uscd.methods.spec import MethodSpec, parse_methods
from uscd.run.folder import check_executable, evaluate_run, finish
from uscd.run.generate import MethodRun, generate_method
from uscd.run.progress import Progress, Silent
from uscd.run.settings import EvalSettings, run_config
from uscd.runs import RunFolder
from uscd.tasks import Problem, Task

if TYPE_CHECKING:
    from uscd.engine import Engine

__all__ = ["EvalSettings", "Interrupted", "MethodSpec", "parse_methods", "run_eval"]


class Interrupted(UscdError):
    exit_code = 130


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
class LoadedModel:
    """What every method of one invocation shares: the engine and what the configs record of it."""

    engine: Engine
    batch_size: int
    model_info: dict
    backend_info: dict
    prompt: dict | None = None  # the chat format, in chat mode (recorded in the run config)
    release: Callable[[], None] | None = None  # frees what the process would not free by exiting (Ray actors)


def load_model(settings: EvalSettings) -> LoadedModel:
    from uscd import engine as engines
    from uscd.models import describe

    model = settings.model
    if model.ray is not None:
        return load_ray_model(settings)
    engine = engines.open_engine(
        model.name, backend=model.backend, n_ctx=model.n_ctx, n_threads=model.threads, dtype=model.dtype
    )
    batch_size = engine.batch_size(settings.generation.batch)
    loaded = LoadedModel(engine, batch_size, describe(engine.backend.path), engine.backend.describe())
    if settings.generation.prompt_style == "chat":
        from uscd.prompts.chat import ChatFormat, ChatMarkup

        chat = ChatFormat.from_backend(engine.backend)
        # a rendered chat holds the template's special tokens: tokenise them as such
        loaded.engine = engines.Engine(ChatMarkup(engine.backend))
        loaded.prompt = {**chat.describe(), "format": chat}
    return loaded


def load_ray_model(settings: EvalSettings) -> LoadedModel:
    """Ray actors that each load the model; the run records what they report."""
    from uscd.run.ray_engine import RayEngine

    if settings.generation.prompt_style == "chat":
        raise UscdError("--ray does not support --prompt-style chat yet")
    engine = RayEngine(settings.model, settings.model.ray)
    batch_size = engine.batch_size(settings.generation.batch)
    loaded = LoadedModel(engine, batch_size, engine.model_info, engine.backend_info)  # type: ignore[arg-type]
    loaded.release = engine.close
    return loaded


def as_asked(problems: dict[str, list[Problem]], loaded: LoadedModel) -> dict[str, list[Problem]]:
    """The problems as the model is asked them: unchanged, or rendered as chats."""
    if loaded.prompt is None:
        return problems
    chat = loaded.prompt["format"]
    return {src: [chat.problem(p) for p in plist] for src, plist in problems.items()}


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
    check_searches(rules, problems, settings)
    engine = load_model(settings)
    engine.engine.check_level = settings.sandbox.level  # where a program search runs its checks
    problems = as_asked(problems, engine)
    prompt_record = (
        None if engine.prompt is None else {k: v for k, v in engine.prompt.items() if k != "format"}
    )
    if warning := calibration_mismatch(settings.calibration, engine.model_info):
        progress.warn(warning)
    summaries = []
    try:
        for spec in settings.run.methods:
            rule = rules[spec.label]
            if warning := rule.gate_warning(engine.engine.backend.vocab_size):
                progress.warn(f"{spec.label}: {warning}")
            task = tasks[spec.lame_source]
            folder = RunFolder(settings.run.out / spec.label)
            info = (engine.model_info, engine.backend_info, engine.batch_size, prompt_record)
            config = run_config(settings, task, spec, rule, *info)
            run = MethodRun(spec, rule, task, folder, folder.open(config))
            summaries.append(run_method(run, problems[spec.lame_source], engine, settings, progress))
    finally:
        if engine.release is not None:
            engine.release()
    return summaries


def check_searches(rules: dict, problems: dict[str, list[Problem]], settings: EvalSettings) -> None:
    """Refuse, before any model loads, a program search (branch) where it cannot run."""
    if not any(rule.program_search for rule in rules.values()):
        return
    from uscd.search.branch import check_setting

    languages = {p.language for plist in problems.values() for p in plist} or {"python"}
    if settings.generation.prompt_style == "chat" and languages != {"python"}:
        # the frames of MultiPL-E's checks continue a completion; a chat reply is a whole program
        raise UscdError("in chat mode the branch and filter methods run on Python tasks only")
    for rule in rules.values():
        if rule.program_search:  # chat prompts too: each request carries its subject (uscd.search.subject)
            for language in sorted(languages):
                check_setting(rule, language)


def run_method(
    run: MethodRun, problems: list[Problem], engine: LoadedModel, settings: EvalSettings, progress: Progress
) -> dict:
    """The two stages of one method: generation, then (unless generation-only) evaluation."""
    try:
        generate_method(run, problems, engine.engine, settings, engine.batch_size, progress)
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
