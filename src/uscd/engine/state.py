"""One sequence's decoding, as a state machine both drivers step through.

    observe(std logits) -> aux_needed()? -> [driver brings the auxiliary lanes up to date]
    -> [lookahead(fork): rollouts of the rule's candidates on a branch] -> decide(aux rows, rollouts)
    -> accept(token) -> ... -> finish()

The drivers differ only in how logits arrive: the single-stream driver extends its sequences one
after the other; the batched driver collects every sequence's tokens into one decode per step.
Everything else — the rule, the selector, stop sequences, EOS, the token limit, traces and
counters — happens here, once.

Auxiliary lanes (the lame prompt, or any prompt a rule declares) are kept *lazily* in sync with
the generated code: a lane is started (its prompt evaluated, the prefix it shares with the
standard sequence copied) only on the first step that needs it, and afterwards the tokens chosen
since its last update wait in ``pending`` until a step needs the lane again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from uscd.engine.generation import CompletionText, Generation, TokenTrace
from uscd.engine.lookahead import Branch, roll_out_all
from uscd.engine.request import Prepared
from uscd.methods import Rollout, StdView, Step

# called once per step with (step index, standard view, aux logits or None, rule output, token)
StepHook = Callable[[int, StdView, "np.ndarray | None", Step, int], None]


class AuxLane:
    """One auxiliary context of a sequence: its prompt tokens and how far it is in sync."""

    def __init__(self, name: str, prompt_tokens: list[int]) -> None:
        self.name = name
        self.prompt_tokens = prompt_tokens
        self.started = False
        self.pending: list[int] = []  # chosen tokens it has not been fed yet
        self.logits: np.ndarray | None = None  # its latest row (a driver's cache, see the drivers)


class SequenceState:
    """The decoding state of one request."""

    def __init__(self, prepared: Prepared, backend, hook: StepHook | None = None) -> None:
        req = prepared.request
        self.backend = backend
        self.rule, self.sampler, self.config = req.rule, req.sampler, req.config
        self.hook = hook
        self.prompt_tokens = prepared.prompt_tokens
        self.continuation = prepared.continuation  # tokens chosen before this decode (a branch)
        self.aux = [AuxLane(name, prepared.aux_tokens[name]) for name in self.rule.aux]
        self.eager = bool(self.aux) and self.config.sync == "eager"
        self.generated: list[int] = []
        self.step_index = 0
        self.view: StdView | None = None
        first_aux = len(self.aux[0].prompt_tokens) if self.aux else None
        self.out = Generation("", [], "length", len(self.prompt_tokens), first_aux, started_at=time.time())
        self.text = CompletionText(self.config.stop)

    # -- auxiliary lanes -----------------------------------------------------------------------

    def aux_needed(self) -> bool:
        """Does this step's decision read the auxiliary logits?"""
        assert self.view is not None
        return bool(self.aux) and (self.eager or self.rule.needs_aux(self.view))

    def start(self, lane: AuxLane, shared: int) -> None:
        """Start a lane whose first `shared` tokens were copied from another sequence's cache."""
        lane.started = True
        lane.pending = (lane.prompt_tokens + self.generated)[shared:]
        self.out.shared_prefix_tokens = shared

    def take_pending(self, lane: AuxLane) -> list[int]:
        """The tokens to feed a lane now (one catch-up)."""
        tokens, lane.pending = lane.pending, []
        self.out.lame_syncs += 1
        self.out.lame_tokens_evaluated += len(tokens)
        return tokens

    def aux_rows(self, needed: bool) -> np.ndarray | tuple | None:
        """What the rule's `score` gets: None, the lane's row, or the rows of all lanes in order."""
        if not needed:
            return None
        rows = tuple(lane.logits for lane in self.aux)
        return rows[0] if len(rows) == 1 else rows

    # -- lookahead -----------------------------------------------------------------------------

    @property
    def looks_ahead(self) -> bool:
        return self.rule.max_lookahead() > 0

    def lookahead(self, fork: Callable[[], Branch], held: int, n_ctx: int) -> tuple[Rollout, ...] | None:
        """Roll out the candidates the rule asks for at this step (None: it asks for none).
        `held`: tokens in the standard sequence; a rollout never runs past the context."""
        assert self.view is not None
        candidates = self.rule.lookahead(self.view)
        length = min(self.rule.max_lookahead(), n_ctx - held - 1)
        if candidates is None or length < 1:
            return None
        rollouts, evaluated = roll_out_all(self.backend, fork(), candidates, self.text, length)
        self.out.lookahead_tokens += evaluated
        return rollouts

    # -- one step ------------------------------------------------------------------------------

    def observe(self, std_logits: np.ndarray) -> None:
        self.view = StdView(std_logits)

    def decide(self, aux: np.ndarray | tuple | None, rollouts: tuple[Rollout, ...] | None = None) -> int:
        """The rule's scores for this step, the selector's token; counted and traced."""
        view = self.view
        assert view is not None
        step = self.rule.score(view, aux) if rollouts is None else self.rule.rerank(view, rollouts)
        token = self.sampler.select(step.scores)
        self._record(view, step, token)
        if self.hook is not None:
            self.hook(self.step_index, view, aux, step, token)
        return token

    def accept(self, token: int) -> bool:
        """Take the chosen token; True when the generation is over (EOS, stop sequence, limit)."""
        self.view = None
        if self.backend.is_eog(token):
            self.out.finish_reason = "eos"
            return True
        self.generated.append(token)
        if self.text.add(self.backend.piece(token)):
            self.out.finish_reason = "stop"
            return True
        if self.step_index + 1 == self.config.max_new_tokens:
            return True
        self.step_index += 1
        for lane in self.aux:
            if lane.started:
                lane.pending.append(token)
        return False

    def resume(self, tokens: list[int], trace: list[TokenTrace]) -> bool:
        """Take tokens chosen elsewhere (a branch: the prefix it shares and its forced token), with
        their traced steps where there are any; True when they end the generation."""
        for i, token in enumerate(tokens):
            self.out.steps += 1
            if i < len(trace):
                step = trace[i]
                self.out.uncertain_steps += step.uncertain
                self.out.contrast_steps += step.contrast
                self.out.fallback_steps += step.fallback
                if self.config.trace:
                    self.out.trace.append(step)
            if self.accept(token):
                return True
        return False

    def take_continuation(self, trace: Sequence[TokenTrace] = ()) -> bool:
        """Take the request's continuation as the first steps (with `trace`: their traced steps,
        where known); True when it ends the generation (EOS, a stop sequence, the token limit)."""
        return bool(self.continuation) and self.resume(self.continuation, list(trace))

    def finish(self) -> Generation:
        out = self.out
        out.completion = self.text.final(out.finish_reason == "stop")
        out.tokens = list(self.generated)
        out.finished_at = time.time()
        return out

    def _record(self, view: StdView, step: Step, token: int) -> None:
        out = self.out
        out.steps += 1
        out.uncertain_steps += step.uncertain
        out.contrast_steps += step.contrast
        out.fallback_steps += step.fallback
        if self.config.trace:
            out.trace.append(self._trace(view, step, token))

    def _trace(self, view: StdView, step: Step, token: int) -> TokenTrace:
        piece = self.backend.piece
        return TokenTrace(
            step=self.step_index,
            token=token,
            text=piece(token).decode("utf-8", errors="replace"),
            greedy_token=view.greedy_token,
            greedy_text=piece(view.greedy_token).decode("utf-8", errors="replace"),
            uncertainty=None if step.uncertainty is None else round(float(step.uncertainty), 6),
            uncertain=step.uncertain,
            contrast=step.contrast,
            head_size=step.head_size,
            fallback=step.fallback,
        )
