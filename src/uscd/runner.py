"""Eval orchestration: generate with each method, execute in the sandbox, summarise; resumable.

Each method writes its own run folder (OUT/<label>/). A sample is appended to samples.jsonl the
moment it is generated and executed right away, so a run killed at any point resumes where it
stopped: nothing is generated twice and nothing already written is lost.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from uscd import __version__
from uscd.decoding import Rule, Sampler, make_rule
from uscd.errors import UscdError
from uscd.prompts.chat import ChatFormat, ChatMarkup, as_chat, check_style, reply_prefix
from uscd.runs import RESULTS, SAMPLES, TRACES, RunFolder
from uscd.tasks import Problem, Task

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
# settings of one eval invocation


@dataclass
class EvalSettings:
    task_name: str
    task_options: dict
    methods: list[MethodSpec]
    out: Path
    model: str | None = None
    backend: str = "llama"
    n_ctx: int = 4096
    threads: int | None = None
    rule_defaults: dict = field(default_factory=dict)
    calibration: dict | None = None
    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    max_new_tokens: int = 512
    sync: str = "lazy"
    # problems decoded together in one context: 1 (one at a time), an int, or "auto" (the faster path,
    # measured per model). Batched kernels round differently with the batch's composition, which
    # flips near-ties: 1 keeps paired comparisons between methods free of that noise.
    batch: int | str = 1
    limit: int | None = None
    # "chat": each problem asked through the model's chat template (uscd.prompts.chat)
    prompt_style: str = "completion"
    generation_only: bool = False
    save_traces: bool = True
    timeout_s: float = 10.0
    level: str = "auto"
    workers: int | None = None

    def validate(self) -> None:
        if self.n_samples < 1:
            raise UscdError(f"--n-samples must be at least 1, got {self.n_samples}")
        if self.n_samples > 1 and self.temperature == 0:
            raise UscdError(
                "--n-samples > 1 needs sampling (--temperature > 0): greedy samples are identical"
            )
        if self.limit is not None and self.limit < 1:
            raise UscdError(f"--limit must be at least 1, got {self.limit}")
        if not self.timeout_s > 0:
            raise UscdError(f"--timeout must be positive, got {self.timeout_s}")
        check_style(self.prompt_style)


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


def sample_seed(base: int, task_id: str, index: int) -> int:
    """A per-sample seed that does not depend on order, so a resumed run draws the same samples."""
    digest = hashlib.sha256(f"{base}:{task_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def versions() -> dict:
    import numpy

    out = {"uscd": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import llama_cpp

        out["llama_cpp_python"] = llama_cpp.__version__
    except ImportError:
        pass
    return out


def run_config(
    settings: EvalSettings,
    task: Task,
    spec: MethodSpec,
    rule: Rule,
    model_info: dict,
    backend_info: dict,
    batch_size: int = 1,
    prompt: dict | None = None,
) -> dict:
    """The run's config; `prompt` (the chat format) only in chat mode, so that completion-style
    configs, and with them the hashes of every existing run, stay as they were."""
    task_cfg = task.config()
    config = {
        "uscd_version": __version__,
        "task": {k: v for k, v in task_cfg.items() if k != "dataset_path"},
        "dataset_location": task_cfg.get("dataset_path"),
        "method": {
            "label": spec.label,
            "rule": rule.name,
            "knobs": rule.knobs(),
            "lame_source": spec.lame_source,
        },
        "calibration": {k: v for k, v in settings.calibration.items() if k != "made_on"}
        if settings.calibration and settings.calibration.get("rule") == spec.rule
        else None,
        "model": {k: v for k, v in model_info.items() if k != "path"},
        "model_location": model_info.get("path"),
        "backend": {k: v for k, v in backend_info.items() if k != "n_threads"},
        "generation": {"max_new_tokens": settings.max_new_tokens, "sync": settings.sync},
        "sampling": {
            "n_samples": settings.n_samples,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "top_k": settings.top_k,
            "seed": settings.seed,
        },
        "sandbox_limits": {"timeout_s": settings.timeout_s},
        "limit": settings.limit,
        # volatile like threads: batched kernels change logits only in the last digits (near-ties)
        "batch": batch_size,
        "threads": backend_info.get("n_threads"),
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if prompt is not None:
        config["prompt"] = prompt
    return config


# ----------------------------------------------------------------------------------------------
# records


def sample_record(problem: Problem, index: int, seed: int | None, gen) -> dict:
    record = {
        "task_id": problem.task_id,
        "sample_idx": index,
        "completion": gen.completion,
        "solution": problem.prompt + gen.completion,
        "finish_reason": gen.finish_reason,
        "seed": seed,
        "stats": gen.stats(),
    }
    if problem.reply_prefix is not None:  # chat: the reply as the model wrote it, and its code
        record["reply"] = problem.reply_prefix + gen.completion
        record["solution"] = problem.code(gen.completion)
    return record


def error_sample(problem: Problem, index: int, message: str) -> dict:
    return {
        "task_id": problem.task_id,
        "sample_idx": index,
        "completion": "",
        "solution": problem.prompt,
        "finish_reason": "error",
        "error": message,
        "stats": {},
    }


def trace_record(problem: Problem, index: int, gen) -> dict:
    t = gen.trace
    return {
        "task_id": problem.task_id,
        "sample_idx": index,
        "tokens": [x.token for x in t],
        "text": [x.text for x in t],
        "greedy": [x.greedy_token for x in t],
        "greedy_text": [x.greedy_text if x.changed else "" for x in t],
        "uncertainty": [x.uncertainty for x in t],
        "uncertain": "".join("1" if x.uncertain else "0" for x in t),
        "contrast": "".join("1" if x.contrast else "0" for x in t),
        "fallback": "".join("1" if x.fallback else "0" for x in t),
        "head_size": [x.head_size for x in t],
    }


def result_record(task_id: str, index: int, res) -> dict:
    return {
        "task_id": task_id,
        "sample_idx": index,
        "status": res.status,
        "reason": res.reason,
        "duration_s": round(res.duration_s, 4),
        "level": res.level,
        "exit_code": res.exit_code,
        "stderr_tail": res.stderr_tail[-600:],
    }


def key(record: dict) -> tuple[str, int]:
    return record["task_id"], int(record["sample_idx"])


# ----------------------------------------------------------------------------------------------
# the run


class Progress:
    """Rich progress with ETA and the running pass rate; silent when not on a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.console = Console(stderr=True)
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("pass {task.fields[rate]}"),
            TextColumn("{task.fields[extra]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not enabled,
        )

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def add(self, label: str, total: int, done: int) -> int:
        return self.bar.add_task(label, total=total, completed=done, rate="-", extra="")

    def update(self, task: int, *, passed: int, executed: int, extra: str = "") -> None:
        rate = f"{passed}/{executed} = {passed / executed:.1%}" if executed else "-"
        self.bar.update(task, advance=1, rate=rate, extra=extra)


@dataclass
class MethodRun:
    spec: MethodSpec
    rule: Rule
    task: Task
    folder: RunFolder
    config: dict


def execute_one(problem: Problem, completion: str, settings: EvalSettings, level: str):
    from uscd.execution import Limits, run_program

    limits = Limits(wall_s=settings.timeout_s, cpu_s=max(1, int(settings.timeout_s)))
    return run_program(problem.program(completion), language=problem.language, limits=limits, level=level)


def check_executable(problems: list[Problem]) -> None:
    languages = sorted({p.language for p in problems if p.language != "python"})
    if languages:
        raise UscdError(
            f"execution supports Python only; this task is {', '.join(languages)}: use --generation-only"
        )


def load_tasks(settings: EvalSettings) -> dict[str, Task]:
    """One task object per lame source the methods ask for."""
    from uscd.tasks import get_task

    tasks = {}
    for source in sorted({m.lame_source for m in settings.methods}):
        options = dict(settings.task_options)
        if source == "official":
            if settings.task_name not in ("humaneval",):
                raise UscdError("lame=official exists only for humaneval (the authors released no other)")
            options["lame_source"] = "official"
        tasks[source] = get_task(settings.task_name, **options)
    return tasks


def run_eval(settings: EvalSettings, *, progress: bool = True) -> list[dict]:
    """Generate (and execute) every method; return one summary per method."""
    from uscd.batched import resolve_batch
    from uscd.generate import GenerationConfig, open_decoder
    from uscd.models import describe

    settings.validate()
    tasks = load_tasks(settings)
    problems = {src: t.problems(settings.limit) for src, t in tasks.items()}
    if not settings.generation_only:
        for plist in problems.values():
            check_executable(plist)
    rules = {m.label: m.build(method_defaults(m, settings)) for m in settings.methods}
    decoder = open_decoder(
        settings.model, backend=settings.backend, n_ctx=settings.n_ctx, n_threads=settings.threads
    )
    level = _sandbox_level(settings)
    batch_size = resolve_batch(decoder.backend, settings.batch)
    model_info = describe(decoder.backend.path)
    backend_info = decoder.backend.describe()
    prompt_info = None
    if settings.prompt_style == "chat":
        chat = ChatFormat.from_backend(decoder.backend)
        decoder.backend = ChatMarkup(decoder.backend)
        problems = {src: [chat.problem(p) for p in plist] for src, plist in problems.items()}
        prompt_info = chat.describe()
    summaries = []
    with Progress(progress) as bar:
        if warning := calibration_mismatch(settings.calibration, model_info):
            bar.console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        for spec in settings.methods:
            rule = rules[spec.label]
            if warning := rule.gate_warning(decoder.backend.vocab_size):
                bar.console.print(f"[yellow]warning:[/yellow] {spec.label}: {warning}", highlight=False)
            task = tasks[spec.lame_source]
            folder = RunFolder(settings.out / spec.label)
            config = folder.open(
                run_config(settings, task, spec, rule, model_info, backend_info, batch_size, prompt_info)
            )
            run = MethodRun(spec, rule, task, folder, config)
            gen_config = GenerationConfig(
                max_new_tokens=settings.max_new_tokens,
                stop=(),
                sync=settings.sync,
                trace=settings.save_traces,
            )
            try:
                _generate_method(
                    run, problems[spec.lame_source], decoder, gen_config, settings, level, bar, batch_size
                )
            except KeyboardInterrupt:
                summaries.append(finish(run.folder))
                raise Interrupted(
                    f"interrupted during {spec.label}; re-run the same command to resume where it stopped"
                ) from None
            finally:
                folder.close()
            summaries.append(finish(folder))
    return summaries


def _sandbox_level(settings: EvalSettings) -> str | None:
    if settings.generation_only:
        return None
    from uscd.execution import available_level

    return available_level(settings.level)


def _generate_method(
    run: MethodRun, problems, decoder, gen_config, settings: EvalSettings, level, bar, batch_size: int = 1
) -> None:
    from dataclasses import replace

    from uscd.batched import Request, generate_problems

    done_samples = {key(s): s for s in run.folder.samples()}
    done_results = {key(r): r for r in run.folder.results()}
    todo = [(p, i) for p in problems for i in range(settings.n_samples)]
    completed = sum(
        (p.task_id, i) in done_samples and (settings.generation_only or (p.task_id, i) in done_results)
        for p, i in todo
    )
    task_bar = bar.add(run.spec.label, len(todo), completed)
    passed = sum(r["status"] == "pass" for r in done_results.values())
    tally = {"passed": passed, "executed": len(done_results)}

    def execute(problem: Problem, index: int, completion: str, extra: str = "") -> None:
        if not settings.generation_only and (problem.task_id, index) not in done_results:
            res = execute_one(problem, completion, settings, level)
            run.folder.append(RESULTS, result_record(problem.task_id, index, res))
            tally["passed"] += res.status == "pass"
            tally["executed"] += 1
        bar.update(task_bar, passed=tally["passed"], executed=tally["executed"], extra=extra)

    # samples generated by an earlier invocation but not yet executed
    for problem, index in todo:
        sample = done_samples.get((problem.task_id, index))
        if sample is not None and (problem.task_id, index) not in done_results:
            execute(problem, index, sample["completion"])

    fresh = [(p, i) for p, i in todo if (p.task_id, i) not in done_samples]
    seeds = [sample_seed(settings.seed, p.task_id, i) if settings.temperature > 0 else None for p, i in fresh]
    requests = [
        Request(
            p.prompt,
            p.lame_prompt if run.rule.uses_lame else None,
            run.rule,
            Sampler(settings.temperature, settings.top_p, settings.top_k, seed),
            replace(gen_config, stop=p.stop),
        )
        for (p, _), seed in zip(fresh, seeds, strict=True)
    ]
    tokens, started = 0, time.perf_counter()
    # batched results arrive in completion order; each is written (and executed) as it arrives
    for n, gen in generate_problems(decoder, requests, batch_size):
        problem, index = fresh[n]
        if isinstance(gen, UscdError):
            sample = error_sample(problem, index, str(gen))
        else:
            sample = sample_record(problem, index, seeds[n], gen)
            tokens += len(gen.tokens)
            if settings.save_traces:
                run.folder.append(TRACES, trace_record(problem, index, gen))
        run.folder.append(SAMPLES, sample)
        elapsed = time.perf_counter() - started
        execute(problem, index, sample["completion"], f"{tokens / elapsed:.0f} tok/s" if elapsed else "")


def finish(folder: RunFolder) -> dict:
    from uscd.summary import summarize

    summary = summarize(folder.read_config(), folder.samples(), folder.results())
    folder.write_summary(summary)
    return summary


def evaluate_folder(
    folder: RunFolder,
    *,
    timeout_s: float | None = None,
    level: str = "auto",
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Execute the samples of a run folder that have no result yet (e.g. after --generation-only)."""
    from uscd.execution import Limits, available_level, run_many
    from uscd.tasks import get_task

    config = folder.read_config()
    task_cfg = config["task"]
    options = {k: v for k, v in task_cfg.get("options", {}).items() if v is not None}
    if config.get("dataset_location") and "data" in options:
        options["data"] = config["dataset_location"]
    task = get_task(task_cfg["name"], **options)
    if task.dataset_sha256 != task_cfg.get("dataset_sha256"):
        raise UscdError(
            f"{folder.path}: the dataset now reads {task.dataset_path} with another sha256 than the run used"
        )
    by_id = {p.task_id: p for p in task.problems()}
    if (config.get("prompt") or {}).get("style") == "chat":
        by_id = {t: as_chat(p, reply_prefix(p.language)) for t, p in by_id.items()}
    check_executable(list(by_id.values()))
    done = {key(r) for r in folder.results()}
    pending = [s for s in folder.samples() if key(s) not in done]
    timeout = timeout_s or config.get("sandbox_limits", {}).get("timeout_s", 10.0)
    limits = Limits(wall_s=timeout, cpu_s=max(1, int(timeout)))
    resolved = available_level(level)
    items = ((key(s), by_id[s["task_id"]].program(s["completion"])) for s in pending if s["task_id"] in by_id)
    with Progress(progress) as bar:
        task_bar = bar.add(f"evaluate {config['method']['label']}", len(pending), 0)
        passed = executed = 0
        try:
            for (task_id, index), res in run_many(items, workers=workers, limits=limits, level=resolved):
                folder.append(RESULTS, result_record(task_id, index, res))
                passed += res.status == "pass"
                executed += 1
                bar.update(task_bar, passed=passed, executed=executed)
        finally:
            folder.close()
    return finish(folder)


def check_references(
    task: Task,
    *,
    limit: int | None = None,
    timeout_s: float = 10.0,
    level: str = "auto",
    workers: int | None = None,
) -> dict:
    """Run every problem's reference solution in the sandbox: the harness must pass them all."""
    from uscd.execution import Limits, available_level, run_many

    problems = [p for p in task.problems(limit) if p.reference is not None]
    if not problems:
        raise UscdError(f"{task.name} has no reference solutions")
    check_executable(problems)
    limits = Limits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s)))
    resolved = available_level(level)
    start = time.perf_counter()
    items = ((p.task_id, p.program(p.reference)) for p in problems)
    failures = {
        tid: f"{res.status}: {res.reason}"
        for tid, res in run_many(items, workers=workers, limits=limits, level=resolved)
        if not res.passed
    }
    return {
        "task": task.name,
        "problems": len(problems),
        "passed": len(problems) - len(failures),
        "failures": dict(sorted(failures.items())),
        "level": resolved,
        "wall_s": round(time.perf_counter() - start, 2),
    }
