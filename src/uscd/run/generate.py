"""The generation stage: one method's problems in, samples.jsonl (and traces.jsonl) out.

A sample is appended (and fsynced) the moment it is generated, so a run killed at any point
resumes where it stopped: nothing is generated twice and nothing already written is lost.
Batched decoding delivers samples in completion order; each is written as it arrives.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from uscd.errors import UscdError
from uscd.methods import Rule, Sampler
from uscd.run.progress import Progress
from uscd.run.records import error_sample, key, sample_record, trace_record
from uscd.runs import SAMPLES, TRACES, RunFolder
from uscd.tasks import Problem, Task

if TYPE_CHECKING:
    from uscd.methods.spec import MethodSpec
    from uscd.run.settings import EvalSettings


@dataclass
class MethodRun:
    spec: MethodSpec
    rule: Rule
    task: Task
    folder: RunFolder
    config: dict


def sample_seed(base: int, task_id: str, index: int) -> int:
    """A per-sample seed that does not depend on order, so a resumed run draws the same samples."""
    digest = hashlib.sha256(f"{base}:{task_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def requests_for(
    run: MethodRun, fresh: list[tuple[Problem, int]], settings: EvalSettings
) -> tuple[list, list]:
    """One decoding request (and its seed, None when greedy) per sample still to generate."""
    from uscd.engine import GenerationConfig, Request
    from uscd.prompts.auxiliary import aux_prompts
    from uscd.search.subject import problem_subject

    sampling, generation = settings.sampling, settings.generation
    config = GenerationConfig(
        max_new_tokens=generation.max_new_tokens, stop=(), sync=generation.sync, trace=generation.save_traces
    )
    seeds = [sample_seed(sampling.seed, p.task_id, i) if sampling.temperature > 0 else None for p, i in fresh]
    requests = [
        Request(
            p.prompt,
            aux_prompts(run.rule, p),
            run.rule,
            Sampler(sampling.temperature, sampling.top_p, sampling.top_k, seed),
            replace(config, stop=p.stop),
            subject=problem_subject(p) if run.rule.program_search else None,
        )
        for (p, _), seed in zip(fresh, seeds, strict=True)
    ]
    return requests, seeds


def generate_method(
    run: MethodRun,
    problems: list[Problem],
    engine,
    settings: EvalSettings,
    batch_size: int,
    progress: Progress,
) -> None:
    """Generate every sample of `problems` that `run.folder` does not hold yet."""
    done = {key(s) for s in run.folder.samples()}
    todo = [(p, i) for p in problems for i in range(settings.sampling.n_samples)]
    fresh = [(p, i) for p, i in todo if (p.task_id, i) not in done]
    progress.start(f"generate {run.spec.label}", len(todo), len(todo) - len(fresh))
    requests, seeds = requests_for(run, fresh, settings)
    tokens, started = 0, time.perf_counter()
    for n, gen in engine.generate(requests, batch_size):
        problem, index = fresh[n]
        if isinstance(gen, UscdError):
            sample = error_sample(problem, index, str(gen))
        else:
            sample = sample_record(problem, index, seeds[n], gen)
            tokens += len(gen.tokens)
            if settings.generation.save_traces:
                run.folder.append(TRACES, trace_record(problem, index, gen))
        run.folder.append(SAMPLES, sample)
        elapsed = time.perf_counter() - started
        progress.advance(None, f"{tokens / elapsed:.0f} tok/s" if elapsed else "")
