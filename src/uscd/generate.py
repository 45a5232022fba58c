"""The decoding loop: two sequences (standard, lame) conditioned on the same generated tokens.

Every chosen token goes to the standard sequence at once and to the lame sequence's *pending*
list. The lame sequence is brought up to date with one batched ``extend(pending)`` only on a step
where the rule needs p_lame (``sync="lazy"``); on confident steps it costs nothing. The lame
prompt is evaluated only when the first such step arrives, and the cache of the prefix it shares
with the standard prompt is copied rather than computed again. ``sync="eager"`` feeds the lame
sequence every token, as a plain two-row implementation would, for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from uscd.backends import Backend
from uscd.backends import Sequence as BackendSequence
from uscd.decoding import Rule, Sampler, StdView, Step
from uscd.errors import UscdError

FINISH_REASONS = ("stop", "eos", "length")


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    sync: str = "lazy"  # "lazy" | "eager"
    share_prefix: bool = True  # copy the common prompt prefix's cache into the lame sequence
    trace: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise UscdError(f"max-new-tokens must be a positive integer, got {self.max_new_tokens}")
        if self.sync not in ("lazy", "eager"):
            raise UscdError(f"sync must be lazy or eager, got {self.sync!r}")
        if any(not s for s in self.stop):
            raise UscdError("stop sequences must not be empty strings")


@dataclass
class TokenTrace:
    step: int
    token: int
    text: str
    greedy_token: int  # what greedy decoding on the standard prompt would have picked here
    greedy_text: str
    uncertainty: float | None
    uncertain: bool
    contrast: bool
    head_size: int | None
    fallback: bool

    @property
    def changed(self) -> bool:
        return self.token != self.greedy_token


@dataclass
class Generation:
    completion: str
    tokens: list[int]
    finish_reason: str
    prompt_tokens: int
    lame_prompt_tokens: int | None
    trace: list[TokenTrace] = field(default_factory=list)
    steps: int = 0
    uncertain_steps: int = 0
    contrast_steps: int = 0
    fallback_steps: int = 0
    lame_syncs: int = 0  # batched catch-ups of the lame sequence
    lame_tokens_evaluated: int = 0
    shared_prefix_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0

    @property
    def contrast_rate(self) -> float:
        return self.contrast_steps / self.steps if self.steps else 0.0

    def stats(self) -> dict:
        d = asdict(self)
        for key in ("completion", "tokens", "trace"):
            d.pop(key)
        d["new_tokens"] = len(self.tokens)
        d["contrast_rate"] = round(self.contrast_rate, 4)
        return d


# called once per step with (step index, standard view, lame logits or None, rule output, token)
StepHook = Callable[[int, StdView, "np.ndarray | None", Step, int], None]


class StopMatcher:
    """Finds the earliest stop sequence in generated text, checking only the new tail each time."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self.longest = max((len(s) for s in self.stops), default=0)

    def find(self, text: str, new_from: int) -> int | None:
        if not self.stops:
            return None
        start = max(0, new_from - self.longest + 1)
        hits = [i for s in self.stops if (i := text.find(s, start)) != -1]
        return min(hits) if hits else None


class Decoder:
    """Holds the backend and the two reusable sequences; generates one completion at a time."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.std = backend.sequence()
        self._lame: BackendSequence | None = None

    @property
    def lame(self) -> BackendSequence:
        if self._lame is None:  # created on first need: rules without a lame prompt never pay for it
            self._lame = self.backend.sequence()
        return self._lame

    def check_prompt(self, tokens: list[int], what: str, max_new_tokens: int) -> None:
        if not tokens:
            raise UscdError(f"the {what} is empty")
        n_ctx = self.backend.n_ctx
        if len(tokens) >= n_ctx:
            raise UscdError(
                f"the {what} is {len(tokens)} tokens, longer than the context of {n_ctx} tokens "
                "(raise --n-ctx or shorten the prompt)"
            )

    def generate(
        self,
        prompt: str,
        lame_prompt: str | None,
        rule: Rule,
        sampler: Sampler,
        config: GenerationConfig = GenerationConfig(),
        hook: StepHook | None = None,
    ) -> Generation:
        if not prompt.strip():
            raise UscdError("the prompt is empty")
        if rule.uses_lame and lame_prompt is None:
            raise UscdError(f"rule {rule.name} needs a lame prompt")
        prompt_tokens = self.backend.tokenize(prompt)
        self.check_prompt(prompt_tokens, "prompt", config.max_new_tokens)
        lame_tokens = None
        if rule.uses_lame:
            assert lame_prompt is not None
            if not lame_prompt.strip():
                raise UscdError("the lame prompt is empty")
            lame_tokens = self.backend.tokenize(lame_prompt)
            self.check_prompt(lame_tokens, "lame prompt", config.max_new_tokens)
        run = _Run(self, prompt_tokens, lame_tokens, rule, sampler, config, hook)
        return run.execute()


class _Run:
    """The state of one generation; `execute` is the per-token loop."""

    def __init__(
        self,
        decoder: Decoder,
        prompt_tokens: list[int],
        lame_tokens: list[int] | None,
        rule: Rule,
        sampler: Sampler,
        config: GenerationConfig,
        hook: StepHook | None,
    ) -> None:
        self.d = decoder
        self.backend = decoder.backend
        self.prompt_tokens = prompt_tokens
        self.lame_tokens = lame_tokens
        self.rule = rule
        self.sampler = sampler
        self.config = config
        self.hook = hook
        self.generated: list[int] = []
        self.lame_started = False
        self.lame_pending: list[int] = []
        self.out = Generation("", [], "length", len(prompt_tokens), len(lame_tokens) if lame_tokens else None)

    # -- the lame sequence ---------------------------------------------------------------------

    def _start_lame(self) -> np.ndarray:
        """Evaluate the lame prompt (and the generated tokens so far), reusing the shared prefix."""
        assert self.lame_tokens is not None
        lame = self.d.lame
        full = self.lame_tokens + self.generated
        shared = 0
        if self.config.share_prefix:
            shared = _common_prefix(self.d.std.tokens, full)
            shared = min(shared, len(full) - 1)  # at least one token must be evaluated for logits
        if shared > 0:
            lame.copy_prefix_from(self.d.std, shared)
        else:
            lame.reset()
        self.out.shared_prefix_tokens = shared
        self.lame_started = True
        self.lame_pending = []
        return self._extend_lame(full[shared:])

    def _extend_lame(self, tokens: list[int]) -> np.ndarray:
        self.out.lame_syncs += 1
        self.out.lame_tokens_evaluated += len(tokens)
        return self.d.lame.extend(tokens)

    def lame_logits(self) -> np.ndarray:
        if not self.lame_started:
            return self._start_lame()
        pending, self.lame_pending = self.lame_pending, []
        if pending:
            return self._extend_lame(pending)
        return self._last_lame_logits

    # -- the loop ------------------------------------------------------------------------------

    def execute(self) -> Generation:
        cfg, out = self.config, self.out
        t0 = time.perf_counter()
        self.d.std.reset()
        logits = self.d.std.extend(self.prompt_tokens)
        if self.rule.uses_lame and cfg.sync == "eager":
            self._last_lame_logits = self._start_lame()
        out.prefill_s = time.perf_counter() - t0
        text_bytes = bytearray()
        text = ""
        stops = StopMatcher(cfg.stop)
        for step_index in range(cfg.max_new_tokens):
            view = StdView(logits)
            lame_logits = self._lame_for(view)
            step = self.rule.score(view, lame_logits)
            token = self.sampler.select(step.scores)
            self._record(step_index, view, step, token)
            if self.hook is not None:
                self.hook(step_index, view, lame_logits, step, token)
            if self.backend.is_eog(token):
                out.finish_reason = "eos"
                break
            self.generated.append(token)
            text_bytes += self.backend.piece(token)
            previous = len(text)
            text = text_bytes.decode("utf-8", errors="ignore")
            cut = stops.find(text, previous)
            if cut is not None:
                text = text[:cut]
                out.finish_reason = "stop"
                break
            if step_index + 1 == cfg.max_new_tokens:
                break
            logits = self._advance(token)
        else:  # pragma: no cover - the loop always breaks
            pass
        if out.finish_reason != "stop":
            text = text_bytes.decode("utf-8", errors="replace")
        out.completion = text
        out.tokens = list(self.generated)
        out.decode_s = time.perf_counter() - t0 - out.prefill_s
        return out

    def _lame_for(self, view: StdView) -> np.ndarray | None:
        if not self.rule.uses_lame:
            return None
        if self.config.sync == "eager":
            return self._last_lame_logits
        if self.rule.needs_lame(view):
            self._last_lame_logits = self.lame_logits()
            return self._last_lame_logits
        return None

    def _advance(self, token: int) -> np.ndarray:
        logits = self.d.std.extend([token])
        if self.rule.uses_lame:
            if self.config.sync == "eager":
                self._last_lame_logits = self._extend_lame([token])
            elif self.lame_started:
                self.lame_pending.append(token)
        return logits

    def _record(self, step_index: int, view: StdView, step: Step, token: int) -> None:
        out = self.out
        out.steps += 1
        out.uncertain_steps += step.uncertain
        out.contrast_steps += step.contrast
        out.fallback_steps += step.fallback
        if self.config.trace:
            out.trace.append(
                TokenTrace(
                    step=step_index,
                    token=token,
                    text=self.backend.piece(token).decode("utf-8", errors="replace"),
                    greedy_token=view.greedy_token,
                    greedy_text=self.backend.piece(view.greedy_token).decode("utf-8", errors="replace"),
                    uncertainty=None if step.uncertainty is None else round(float(step.uncertainty), 6),
                    uncertain=step.uncertain,
                    contrast=step.contrast,
                    head_size=step.head_size,
                    fallback=step.fallback,
                )
            )


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def open_decoder(
    model: str | None = None,
    *,
    backend: str = "llama",
    n_ctx: int = 4096,
    n_threads: int | None = None,
) -> Decoder:
    """Load a model (registry name, alias or .gguf path; None = the embedded default)."""
    from uscd.backends import load_backend
    from uscd.models import resolve

    path = resolve(model)
    return Decoder(load_backend(backend, path, n_ctx=n_ctx, n_threads=n_threads))
