"""The settings of one `uscd eval`, in groups (model / generation / sampling / sandbox / run), and
the run config each method's folder records (its identity: a changed recorded setting is another run).

A field that the config records says so in its metadata (`recorded`); the config's sections are
read off the groups, so adding a recorded setting is one field here. Keep the recorded names and
values stable: run folders are resumed and compared by their config hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uscd import __version__
from uscd.errors import UscdError
from uscd.run.evaluate import Sandbox
from uscd.run.versions import versions

if TYPE_CHECKING:
    from uscd.methods import Rule
    from uscd.runner import MethodSpec
    from uscd.tasks import Task

RECORDED = {"recorded": True}


def recorded(group: Any) -> dict[str, Any]:
    """The fields of a settings group that go into the run config."""
    return {f.name: getattr(group, f.name) for f in fields(group) if f.metadata.get("recorded")}


@dataclass(frozen=True)
class ModelSettings:
    name: str | None = None  # registry name or .gguf path; None: the embedded default
    backend: str = "llama"
    n_ctx: int = 4096
    threads: int | None = None
    dtype: str | None = None  # hf backend only; the backend records it (its describe())
    # generate on Ray actors (uscd.run.ray_engine.RaySettings); not recorded: where samples are
    # decoded does not change them
    ray: Any = None


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = field(default=512, metadata=RECORDED)
    sync: str = field(default="lazy", metadata=RECORDED)
    # problems decoded together in one context: 1 (one at a time), an int, or "auto" (the faster path,
    # measured per model). Batched kernels round differently with the batch's composition, which
    # flips near-ties: 1 keeps paired comparisons between methods free of that noise.
    batch: int | str = 1
    # "chat": each problem asked through the model's chat template (uscd.prompts.chat); recorded as
    # the config's "prompt" section, only for chat, so completion-style configs keep their hashes
    prompt_style: str = "completion"
    save_traces: bool = True
    rule_defaults: dict = field(default_factory=dict)  # knobs given as global flags (--rho ...)
    calibration: dict | None = None  # from `uscd calibrate`: knobs for its rule


@dataclass(frozen=True)
class SamplingSettings:
    n_samples: int = field(default=1, metadata=RECORDED)
    temperature: float = field(default=0.0, metadata=RECORDED)
    top_p: float = field(default=1.0, metadata=RECORDED)
    top_k: int = field(default=0, metadata=RECORDED)
    seed: int = field(default=0, metadata=RECORDED)


@dataclass(frozen=True)
class RunSettings:
    task_name: str
    task_options: dict
    methods: list[MethodSpec]
    out: Path
    limit: int | None = None
    generation_only: bool = False


@dataclass(frozen=True)
class EvalSettings:
    run: RunSettings
    model: ModelSettings = field(default_factory=ModelSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    sandbox: Sandbox = field(default_factory=Sandbox)

    # runner.method_defaults reads these two by name
    @property
    def calibration(self) -> dict | None:
        return self.generation.calibration

    @property
    def rule_defaults(self) -> dict:
        return self.generation.rule_defaults

    def validate(self) -> None:
        sampling = self.sampling
        if sampling.n_samples < 1:
            raise UscdError(f"--n-samples must be at least 1, got {sampling.n_samples}")
        if sampling.n_samples > 1 and sampling.temperature == 0:
            raise UscdError(
                "--n-samples > 1 needs sampling (--temperature > 0): greedy samples are identical"
            )
        if self.run.limit is not None and self.run.limit < 1:
            raise UscdError(f"--limit must be at least 1, got {self.run.limit}")
        if not self.sandbox.timeout_s > 0:
            raise UscdError(f"--timeout must be positive, got {self.sandbox.timeout_s}")
        from uscd.prompts.chat import check_style

        check_style(self.generation.prompt_style)


def recorded_calibration(settings: EvalSettings, rule_name: str) -> dict | None:
    """The calibration a method used (rule, knobs, source), when it was made for its rule."""
    calibration = settings.calibration
    if not calibration or calibration.get("rule") != rule_name:
        return None
    return {k: v for k, v in calibration.items() if k != "made_on"}  # made_on only feeds a warning


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
    """The run's config; `prompt` (the chat format) only in chat mode."""
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
            **({"preset": spec.preset} if spec.preset else {}),
        },
        "calibration": recorded_calibration(settings, spec.rule),
        "model": {k: v for k, v in model_info.items() if k != "path"},
        "model_location": model_info.get("path"),
        "backend": {k: v for k, v in backend_info.items() if k != "n_threads"},
        "generation": recorded(settings.generation),
        "sampling": recorded(settings.sampling),
        "sandbox_limits": recorded(settings.sandbox),
        "limit": settings.run.limit,
        # volatile like threads: batched kernels change logits only in the last digits (near-ties)
        "batch": batch_size,
        "threads": backend_info.get("n_threads"),
        "versions": versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if prompt is not None:
        config["prompt"] = prompt
    return config
