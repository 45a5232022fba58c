"""The single-stream driver: one request at a time, each sequence in its own llama context.

The standard sequence gets every chosen token at once; an auxiliary sequence (the lame prompt) is
brought up to date with one batched ``extend(pending)`` only on a step whose rule reads it
(``sync="lazy"``, the default), and its prompt is evaluated only when the first such step arrives,
with the cache of the prefix it shares with the standard prompt copied rather than computed again.
``sync="eager"`` feeds the auxiliary sequences every token, as a plain two-row implementation would.
"""

from __future__ import annotations

import time

import numpy as np

from uscd.engine.backends import Backend
from uscd.engine.backends import Sequence as BackendSequence
from uscd.engine.generation import Generation, GenerationConfig, forked_trace
from uscd.engine.prefix import shared_for_start
from uscd.engine.request import AuxPrompts, Request, branched, prepare
from uscd.engine.state import AuxLane, SequenceState, StepHook
from uscd.errors import UscdError
from uscd.methods import Rule, Sampler

DEFAULT_CONFIG = GenerationConfig()


class Branch:
    """A scratch copy of a sequence's first n tokens (its KV cache copied, not recomputed): extend
    it to look ahead, then drop it. The primitive behind lookahead methods."""

    def __init__(self, seq: BackendSequence, source: BackendSequence, n: int) -> None:
        self.seq = seq
        seq.copy_prefix_from(source, n)
        self.n = len(seq.tokens)

    @property
    def tokens(self) -> list[int]:
        return self.seq.tokens

    def extend(self, tokens: list[int]) -> np.ndarray:
        return self.seq.extend(tokens)

    def rewind(self) -> None:
        """Back to the fork point (the branch's own tokens are dropped, the prefix kept)."""
        self.seq.truncate(self.n)

    def drop(self) -> None:
        self.seq.reset()


class Decoder:
    """Holds the backend and its reusable sequences; generates one completion at a time."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.std = backend.sequence()
        self._aux: dict[str, BackendSequence] = {}
        self._scratch: BackendSequence | None = None

    def aux_sequence(self, name: str) -> BackendSequence:
        if name not in self._aux:  # created on first need: rules without one never pay for it
            self._aux[name] = self.backend.sequence()
        return self._aux[name]

    @property
    def lame(self) -> BackendSequence:
        return self.aux_sequence("lame")

    def fork(self, n: int | None = None) -> Branch:
        """Branch off the standard sequence's first n tokens (default: all it holds)."""
        if self._scratch is None:
            self._scratch = self.backend.sequence()
        return Branch(self._scratch, self.std, len(self.std.tokens) if n is None else n)

    def generate(
        self,
        prompt: str,
        aux_prompts: AuxPrompts,
        rule: Rule,
        sampler: Sampler,
        config: GenerationConfig = DEFAULT_CONFIG,
        hook: StepHook | None = None,
    ) -> Generation:
        """One completion. `aux_prompts`: the lame prompt (a string) or prompts by name."""
        return self.run(Request(prompt, aux_prompts, rule, sampler, config), hook)

    def run(self, request: Request, hook: StepHook | None = None) -> Generation:
        """One request: its prompt and its continuation (if any) evaluated afresh, then decoded on."""
        prepared = prepare(self.backend, request)
        return _Stream(self, SequenceState(prepared, self.backend, hook)).run()

    def branch(
        self,
        request: Request,
        base: Generation,
        at: int,
        token: int,
        *,
        reuse_cache: bool = True,
        hook: StepHook | None = None,
    ) -> Generation:
        """`base` with its token at step `at` replaced by `token`, continued by the request's rule:
        the request with the continuation `base.tokens[:at] + [token]`.

        `base` must be the last generation of `request` here: the standard sequence still holds its
        tokens, and the branch copies the cache of the prompt and the first `at` of them (a Branch)
        rather than computing it again; ``reuse_cache=False`` evaluates them afresh (the reference
        the copy is tested against). The trace keeps `base`'s steps before `at`; the forced step is
        traced as `base`'s step `at` with the new token.
        """
        prepared = prepare(self.backend, branched(request, base.tokens, at, token))
        prefix = prepared.prompt_tokens + base.tokens[:at]
        if reuse_cache and self.std.tokens[: len(prefix)] != prefix:
            raise UscdError("the standard sequence no longer holds the generation to branch from")
        trace = forked_trace(base, at, token, self.backend.piece)
        seq = self.fork(len(prefix) if reuse_cache else 0).seq
        state = SequenceState(prepared, self.backend, hook)
        return _Stream(self, state, std=seq).run(trace, held=len(prefix) if reuse_cache else 0)


class _Stream:
    """Drives one SequenceState with the decoder's sequences."""

    def __init__(self, decoder: Decoder, state: SequenceState, std: BackendSequence | None = None) -> None:
        self.d = decoder
        self.state = state
        self.std = decoder.std if std is None else std  # a branch runs on the decoder's scratch sequence
        # rows may be views into the backend's buffers when nothing outlives the step that reads them
        self.views = state.hook is None and decoder.backend.capabilities.views

    def run(self, trace: list | None = None, held: int = 0) -> Generation:
        """Evaluate the prompt and the request's continuation (taken as the first steps, traced by
        `trace` where given), then decode. `held`: how many of those tokens `self.std` holds
        already (a branch's copied cache); 0: it is reset and they are all evaluated here."""
        st, out = self.state, self.state.out
        t0 = time.perf_counter()
        if not held:
            # Always the whole prompt, never a cached part of it: a prompt's last token evaluated alone
            # rounds differently, and one stream is the exact path (same seed, same text, every time).
            self.std.reset()
        if st.take_continuation(trace or ()):
            return st.finish()
        logits = self._extend(self.std, (st.prompt_tokens + st.continuation)[held:])
        if st.eager:
            for lane in st.aux:
                self._start(lane)
        out.prefill_s = time.perf_counter() - t0
        return self._loop(logits, t0)

    def _loop(self, logits: np.ndarray, t0: float) -> Generation:
        st, out = self.state, self.state.out
        while True:
            st.observe(logits)
            needed = st.aux_needed()
            if needed and not st.eager:
                for lane in st.aux:
                    self._sync(lane)
            rollouts = self._lookahead() if st.looks_ahead else None
            if st.accept(st.decide(st.aux_rows(needed or st.eager), rollouts)):
                break
            logits = self._extend(self.std, [st.generated[-1]])
            if st.eager:
                for lane in st.aux:
                    self._sync(lane)
        out.decode_s = time.perf_counter() - t0 - out.prefill_s
        return st.finish()

    def _lookahead(self):
        # the branch is a context of its own: the standard row (even a view) stays valid
        return self.state.lookahead(self.d.fork, len(self.std.tokens), self.d.backend.n_ctx)

    def _start(self, lane: AuxLane) -> None:
        """Evaluate a lane's prompt (and the tokens generated so far), reusing the shared prefix."""
        seq = self.d.aux_sequence(lane.name)
        full = lane.prompt_tokens + self.state.generated
        shared = shared_for_start(self.std.tokens, full) if self.state.config.share_prefix else 0
        if shared > 0:
            seq.copy_prefix_from(self.std, shared)
        else:
            seq.reset()
        self.state.start(lane, shared)
        lane.logits = self._extend(seq, self.state.take_pending(lane))

    def _sync(self, lane: AuxLane) -> None:
        """Bring a lane up to date (its row stays valid while the lane is not extended again)."""
        if not lane.started:
            self._start(lane)
        elif lane.pending:
            lane.logits = self._extend(self.d.aux_sequence(lane.name), self.state.take_pending(lane))

    def _extend(self, seq: BackendSequence, tokens: list[int]) -> np.ndarray:
        # a view stays valid until that sequence's next decode: the std row is done with by then,
        # and an aux row is reused only while its sequence has not decoded again
        return seq.extend(tokens, copy=not self.views)


def open_decoder(
    model: str | None = None,
    *,
    backend: str = "llama",
    n_ctx: int = 4096,
    n_threads: int | None = None,
    dtype: str | None = None,
) -> Decoder:
    """Load a model (registry name, alias, .gguf path or HF folder; None = the embedded default)."""
    from uscd.engine.backends import load_backend
    from uscd.models import resolve

    path = resolve(model)
    return Decoder(load_backend(backend, path, n_ctx=n_ctx, n_threads=n_threads, dtype=dtype))
