"""Batched decoding across problems: several problems in ONE llama context, one decode per step.

Each of ``batch_size`` slots holds one problem with two sequence ids in a shared context: the
standard sequence ``2 * slot`` and the lame sequence ``2 * slot + 1``. Every ``llama_decode``
carries one token per slot that chose one, the prompt of a slot that was just (re)filled, and the
catch-up tokens of lame sequences whose problem needs p_lame. The rules, samplers, stop
sequences, token limits, traces and ``Generation`` records are those of ``uscd.generate``.

Lazy lame sync across a batch: whether a step needs p_lame is known only once that step's
standard logits exist, and they come out of the same decode that would have to carry the lame
catch-up. So a slot that needs p_lame *waits one decode*: it keeps its standard row, its lame
catch-up (``pending`` tokens, or the whole lame prompt on first need, after the shared prefix is
copied with ``llama_memory_seq_cp``) rides in the next decode with the other slots' tokens, and it
decides then. While a slot's steps keep needing p_lame (``hot``), its chosen token is fed to the
lame sequence together with the standard one, so consecutive uncertain steps do not wait. Both
are exact: the lame logits are always conditioned on the same generated prefix as the standard
ones. Batched kernels change logits in the last digits, so outputs can differ from the
single-stream path at near-ties (tests/test_batched_model.py counts that).

When a problem finishes its slot is refilled with the next request (continuous batching).

Which path is faster depends on the model and the machine (shared/docs/runtime.md §4.4: a 2-token
batch costs ~2.5x one token for the mostly-Q5_0 0.5B model, while batching pays for the Q4_K
1.5B): ``choose_batch_size`` measures tokens/s per batch size once per model file and caches the
choice; ``generate_problems`` dispatches to the single-stream ``Decoder`` or to ``BatchedDecoder``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uscd.decoding import Rule, Sampler, StdView, Step
from uscd.errors import UscdError
from uscd.generate import (
    CompletionText,
    Decoder,
    Generation,
    GenerationConfig,
    _common_prefix,
    record_step,
)

# (request index, step index, standard view, lame logits or None, rule output, token); the arrays
# are only valid during the call (they may be views into llama.cpp's buffers)
BatchHook = Callable[[int, int, StdView, "np.ndarray | None", Step, int], None]

BATCH_SIZES = (1, 2, 4, 8)
# a batch size must beat single-stream tokens/s by this factor to be chosen (run-to-run noise is 10-20%)
CHOICE_MARGIN = 1.15
CHOICE_FILE = "batch_choice.json"
CURVE_PROMPT = (
    "from typing import List\n\n\ndef below_zero(operations: List[int]) -> bool:\n"
    '    """ You\'re given a list of deposit and withdrawal operations on a bank account that starts with\n'
    "    zero balance. Your task is to detect if at any point the balance of account fallls below zero, and\n"
    "    at that point function should return True. Otherwise it should return False.\n"
    "    >>> below_zero([1, 2, 3])\n    False\n    >>> below_zero([1, 2, -4, 5])\n    True\n"
    '    """\n'
)


@dataclass(frozen=True)
class Request:
    """One generation: the same arguments as ``Decoder.generate``."""

    prompt: str
    lame_prompt: str | None
    rule: Rule
    sampler: Sampler = field(default_factory=Sampler)
    config: GenerationConfig = field(default_factory=GenerationConfig)


def as_request(item: Request | tuple) -> Request:
    return item if isinstance(item, Request) else Request(*item)


def _validate(backend, req: Request) -> tuple[list[int], list[int] | None]:
    """Tokens of the prompt and lame prompt, with Decoder.generate's checks and messages."""
    if not req.prompt.strip():
        raise UscdError("the prompt is empty")
    if req.rule.uses_lame and req.lame_prompt is None:
        raise UscdError(f"rule {req.rule.name} needs a lame prompt")
    prompt_tokens = backend.tokenize(req.prompt)
    _check_prompt(backend, prompt_tokens, "prompt")
    lame_tokens = None
    if req.rule.uses_lame:
        assert req.lame_prompt is not None
        if not req.lame_prompt.strip():
            raise UscdError("the lame prompt is empty")
        lame_tokens = backend.tokenize(req.lame_prompt)
        _check_prompt(backend, lame_tokens, "lame prompt")
    return prompt_tokens, lame_tokens


def _check_prompt(backend, tokens: list[int], what: str) -> None:
    if not tokens:
        raise UscdError(f"the {what} is empty")
    if len(tokens) >= backend.n_ctx:
        raise UscdError(
            f"the {what} is {len(tokens)} tokens, longer than the context of {backend.n_ctx} tokens "
            "(raise --n-ctx or shorten the prompt)"
        )


class _ContextFull(UscdError):
    pass


class _Slot:
    """One problem in flight: its two sequence ids, its lame sync state and its output."""

    def __init__(self, slot: int, index: int, req: Request, prompt: list[int], lame: list[int] | None):
        self.std_seq, self.lame_seq = 2 * slot, 2 * slot + 1
        self.index = index
        self.req = req
        self.rule = req.rule
        self.config = req.config
        self.prompt_tokens = prompt
        self.lame_tokens = lame
        self.eager = req.rule.uses_lame and req.config.sync == "eager"
        self.out = Generation("", [], "length", len(prompt), len(lame) if lame else None)
        self.text = CompletionText(req.config.stop)
        self.generated: list[int] = []
        self.step_index = 0
        self.t0 = time.perf_counter()
        self.std_feed: list[int] = []  # tokens for the standard sequence in the next decode
        self.lame_feed: list[int] = []  # tokens for the lame sequence in the next decode
        self.lame_started = False
        self.lame_pending: list[int] = []
        self.hot = False  # the last step needed p_lame: feed the lame sequence along
        self.view: StdView | None = None
        self.lame_logits: np.ndarray | None = None
        self.prefilled = False
        self.waiting = False  # for a sibling's decode of the same prompt, to take its cache
        self.error: UscdError | None = None  # set when the problem fails on its own


class BatchedDecoder:
    """Generates many requests at once, `batch_size` problems per llama context."""

    def __init__(self, backend, batch_size: int, *, prefetch_lame: bool | str = "hot") -> None:
        """prefetch_lame: once a problem's lame sequence exists, when to feed it each chosen token in
        the same decode as the standard sequence: "hot" (True) after a step that needed p_lame,
        "always" (every step: no slot ever waits again, each token costs one more batch row),
        "never" (False: strictly lazy, a slot waits one decode whenever it needs p_lame)."""
        if batch_size < 1:
            raise UscdError(f"the batch size must be at least 1, got {batch_size}")
        if not hasattr(backend, "multi_sequence"):
            raise UscdError(f"the {backend.name} backend cannot decode several sequences in one context")
        self.backend = backend
        self.batch_size = batch_size
        policy = {True: "hot", False: "never"}.get(prefetch_lame, prefetch_lame)  # type: ignore[call-overload]
        if policy not in ("hot", "always", "never"):
            raise UscdError(f"prefetch_lame must be hot, always or never, got {prefetch_lame!r}")
        self.prefetch_lame = policy
        self._ctx = None

    # -- the shared context --------------------------------------------------------------------

    def _context(self, cells: int):
        cells = -(-cells // 256) * 256
        if self._ctx is None or self._ctx.n_ctx < cells:
            if self._ctx is not None:
                self.backend.release(self._ctx)
            self._ctx = self.backend.multi_sequence(2 * self.batch_size, cells)
        else:
            self._ctx.clear()
        return self._ctx

    def _cells_needed(self, prepared: list) -> int:
        """KV cells for the `batch_size` hungriest requests at once (a shared prefix is not counted
        twice by llama.cpp, but it is here: the bound stays safe)."""
        needs = []
        for _, _, toks in prepared:
            if isinstance(toks, UscdError):
                continue
            req, prompt, lame = toks
            n = len(prompt) + req.config.max_new_tokens
            if lame is not None:
                n += len(lame) + req.config.max_new_tokens
            needs.append(min(n, 2 * self.backend.n_ctx))
        needs.sort(reverse=True)
        # a quarter more for fragmentation: slots are freed and refilled at different times
        return max(sum(needs[: self.batch_size]) * 5 // 4, 256) + 64

    def close(self) -> None:
        if self._ctx is not None:
            self.backend.release(self._ctx)
            self._ctx = None

    # -- the loop ------------------------------------------------------------------------------

    def generate_many(
        self, requests: Iterable[Request | tuple], hook: BatchHook | None = None
    ) -> Iterator[tuple[int, Generation | UscdError]]:
        """Yield (request index, Generation) as problems finish, in completion order.

        A request that fails on its own (empty prompt, prompt longer than the context, context
        full while generating) yields (index, UscdError) instead; the others go on.
        """
        prepared = []
        for index, item in enumerate(requests):
            req = as_request(item)
            try:
                prompt, lame = _validate(self.backend, req)
            except UscdError as exc:
                prepared.append((index, req, exc))
            else:
                prepared.append((index, req, (req, prompt, lame)))
        if not prepared:
            return
        ctx = self._context(self._cells_needed(prepared))
        queue = iter(prepared)
        slots: list[_Slot | None] = [None] * self.batch_size
        exhausted = False

        def refill() -> Iterator[tuple[int, UscdError]]:
            nonlocal exhausted
            for s in range(self.batch_size):
                while slots[s] is None and not exhausted:
                    nxt = next(queue, None)
                    if nxt is None:
                        exhausted = True
                        break
                    index, _req, toks = nxt
                    if isinstance(toks, UscdError):
                        yield index, toks
                        continue
                    req, prompt, lame = toks
                    slots[s] = slot = _Slot(s, index, req, prompt, lame)
                    slot.waiting = req.config.share_prefix and _being_prefilled(ctx, slots, slot)
                    if not slot.waiting:
                        self._take_prompt(slot, ctx)

        yield from refill()
        while any(slot is not None for slot in slots):
            active = [slot for slot in slots if slot is not None]
            items = []
            for slot in active:
                items.append((slot.std_seq, slot.std_feed, True) if slot.std_feed else None)
                items.append((slot.lame_seq, slot.lame_feed, True) if slot.lame_feed else None)
            t0 = time.perf_counter()
            rows = ctx.decode([it for it in items if it is not None])
            dt = time.perf_counter() - t0
            it_rows = iter(rows)
            results = [next(it_rows) if it is not None else None for it in items]
            for k, slot in enumerate(active):
                if slot.waiting:  # its prompt's cache is in a sibling sequence now
                    slot.waiting = False
                    self._take_prompt(slot, ctx)
                    continue
                std_row, lame_row = results[2 * k], results[2 * k + 1]
                if not slot.prefilled and std_row is not None:
                    slot.prefilled = True
                    slot.out.prefill_s = dt
                slot.std_feed, slot.lame_feed = [], []
                if std_row is not None:
                    slot.view = StdView(std_row)
                    slot.lame_logits = lame_row  # None unless fed along with the token
                elif lame_row is not None:
                    slot.lame_logits = lame_row  # the catch-up this slot waited for
                if self._advance(slot, ctx, hook):
                    slots[slots.index(slot)] = None
                    self._finish(slot)
                    yield slot.index, slot.error or slot.out
            yield from refill()

    def _advance(self, slot: _Slot, ctx, hook: BatchHook | None) -> bool:
        """Decide the slot's step if it can; schedule its next feeds. True when it is done."""
        view = slot.view
        assert view is not None
        rule, cfg, out = slot.rule, slot.config, slot.out
        need = rule.uses_lame and (slot.eager or rule.needs_lame(view))
        if need and slot.lame_logits is None:
            try:
                self._schedule_catch_up(slot)
            except _ContextFull as exc:
                slot.error = exc
                return True
            view.logits = view.logits.copy()  # the row must outlive the next decode
            return False
        lame = slot.lame_logits if need else None
        step = rule.score(view, lame)
        token = slot.req.sampler.select(step.scores)
        record_step(out, self.backend, cfg.trace, slot.step_index, view, step, token)
        if hook is not None:
            hook(slot.index, slot.step_index, view, lame, step, token)
        slot.view, slot.lame_logits = None, None
        if self.backend.is_eog(token):
            out.finish_reason = "eos"
            return True
        slot.generated.append(token)
        if slot.text.add(self.backend.piece(token)):
            out.finish_reason = "stop"
            return True
        if slot.step_index + 1 == cfg.max_new_tokens:
            return True
        slot.step_index += 1
        try:
            self._check_room(ctx, slot.std_seq, 1)
            slot.std_feed = [token]
            if rule.uses_lame and slot.lame_started:
                slot.lame_pending.append(token)
                policy = self.prefetch_lame
                slot.hot = slot.eager or policy == "always" or (policy == "hot" and need)
                if slot.hot:
                    self._feed_lame(slot, ctx)
        except _ContextFull as exc:
            slot.error = exc
            return True
        return False

    def _take_prompt(self, slot: _Slot, ctx) -> None:
        """Start a refilled slot's standard sequence, reusing the cache of a sequence that already
        holds the same prompt (the other samples of a problem when n > 1)."""
        prompt = slot.prompt_tokens
        src, shared = _holder(ctx, prompt, prompt) if slot.config.share_prefix else (None, 0)
        if src == slot.std_seq:  # this slot's previous request had the same prompt
            ctx.truncate(src, shared)
        elif src is not None:
            ctx.copy_prefix(src, slot.std_seq, shared)
        else:
            ctx.remove(slot.std_seq)
        ctx.remove(slot.lame_seq)
        slot.std_feed = prompt[shared:]
        slot.out.reused_prompt_tokens = shared

    def _schedule_catch_up(self, slot: _Slot) -> None:
        ctx = self._ctx
        if not slot.lame_started:
            assert slot.lame_tokens is not None
            full = slot.lame_tokens + slot.generated
            src, shared = slot.std_seq, 0
            if slot.config.share_prefix:
                shared = min(_common_prefix(ctx.tokens[slot.std_seq], full), len(full) - 1)
                holder, held = _holder(ctx, slot.lame_tokens, full)
                if holder is not None and held > shared:  # another sample's lame sequence
                    src, shared = holder, held
            if shared > 0:
                ctx.copy_prefix(src, slot.lame_seq, shared)
            else:
                ctx.remove(slot.lame_seq)
            slot.out.shared_prefix_tokens = shared
            slot.lame_started = True
            slot.lame_pending = full[shared:]
        if not slot.lame_pending:  # pragma: no cover - a waiting slot always has tokens to catch up
            raise UscdError("internal error: a slot waits for p_lame with nothing to evaluate")
        self._feed_lame(slot, ctx)

    def _feed_lame(self, slot: _Slot, ctx) -> None:
        tokens, slot.lame_pending = slot.lame_pending, []
        self._check_room(ctx, slot.lame_seq, len(tokens))
        slot.lame_feed = tokens
        slot.out.lame_syncs += 1
        slot.out.lame_tokens_evaluated += len(tokens)

    def _check_room(self, ctx, seq: int, n: int) -> None:
        have = ctx.length(seq)
        if have + n > self.backend.n_ctx:
            raise _ContextFull(
                f"the sequence would hold {have + n} tokens, more than the context of {self.backend.n_ctx} "
                "(raise --n-ctx or lower --max-new-tokens)"
            )

    def _finish(self, slot: _Slot) -> None:
        out = slot.out
        out.completion = slot.text.final(out.finish_reason == "stop")
        out.tokens = list(slot.generated)
        out.decode_s = time.perf_counter() - slot.t0 - out.prefill_s


def _being_prefilled(ctx, slots: list, slot: _Slot) -> bool:
    """Does another slot evaluate this slot's prompt in the next decode? Then wait one decode and
    take its cache rather than evaluating the same prompt twice in one batch."""
    if _holder(ctx, slot.prompt_tokens, slot.prompt_tokens)[0] is not None:
        return False
    return any(
        other is not None
        and other is not slot
        and not other.waiting
        and other.std_feed
        and other.prompt_tokens == slot.prompt_tokens
        for other in slots
    )


def _reusable_prefix(held: Sequence[int], prompt: Sequence[int], full: Sequence[int]) -> int:
    """How many of `full`'s (prompt + generated) tokens a sequence holding `held` can give without
    evaluating them again: 0 unless `held` starts with the whole prompt, and at least one token is
    left to evaluate (for logits). Only whole prompts count: reusing a few tokens that different
    prompts happen to share would save little and change the rounding of every greedy comparison."""
    if len(held) < len(prompt) or list(held[: len(prompt)]) != list(prompt):
        return 0
    return min(_common_prefix(held, full), len(full) - 1)


def _holder(ctx, prompt: list[int], full: list[int]) -> tuple[int | None, int]:
    """The sequence in ctx that starts with all of `prompt` and can give the most of `full` (prompt +
    generated tokens), and how many (see ``_reusable_prefix``)."""
    best, best_n = None, 0
    for seq, held in enumerate(ctx.tokens):
        n = _reusable_prefix(held, prompt, full)
        if n > best_n:
            best, best_n = seq, n
    return best, best_n


# ----------------------------------------------------------------------------------------------
# choosing the path


def measure_batch_curve(
    backend, sizes: Iterable[int] = BATCH_SIZES, steps: int = 32, warmup: int = 3
) -> dict:
    """Decode tokens/s per batch size on a fixed prompt: {size: tokens/s}.

    Size 1 is the single-stream path (one sequence in its own context, as ``Decoder`` runs it);
    size B > 1 is B sequences in one multi-sequence context, each fed one token per decode, with
    every row's logits read (as the batched loop does).
    """
    prompt = backend.tokenize(CURVE_PROMPT)
    curve: dict[int, float] = {}
    for size in sizes:
        if size == 1:
            seq = backend.sequence()
            try:
                row = seq.extend(prompt, copy=False)
                for i in range(warmup + steps):
                    if i == warmup:
                        t0 = time.perf_counter()
                    row = seq.extend([int(np.argmax(row))], copy=False)
                curve[1] = round(steps / (time.perf_counter() - t0), 2)
            finally:
                backend.release(seq)
            continue
        ctx = backend.multi_sequence(
            size, -(-(len(prompt) * size + (warmup + steps + 1) * size) // 256) * 256
        )
        try:
            rows = ctx.decode([(0, prompt, True)])
            for s in range(1, size):
                ctx.copy_prefix(0, s, len(prompt))
            nxt = [int(np.argmax(rows[0]))] * size
            for i in range(warmup + steps):
                if i == warmup:
                    t0 = time.perf_counter()
                rows = ctx.decode([(s, [nxt[s]], True) for s in range(size)])
                nxt = [int(np.argmax(r)) for r in rows]
            curve[size] = round(size * steps / (time.perf_counter() - t0), 2)
        finally:
            backend.release(ctx)
    return curve


def pick_batch_size(curve: dict, margin: float = CHOICE_MARGIN) -> int:
    """The batch size with the best tokens/s, if it beats single-stream by `margin`; else 1."""
    base = curve.get(1, 0.0)
    best = max(curve, key=lambda s: curve[s])
    return best if best != 1 and curve[best] >= margin * base else 1


def _cache_file() -> Path:
    from uscd.models import cache_dir

    return cache_dir() / CHOICE_FILE


def _model_key(backend) -> str:
    from uscd.models import sha256_file

    path = Path(backend.path)
    sidecar = path.with_name(path.name + ".verified.json")
    sha = None
    try:
        if sidecar.is_file():
            data = json.loads(sidecar.read_text())
            st = path.stat()
            if data.get("size") == st.st_size and data.get("mtime_ns") == st.st_mtime_ns:
                sha = data.get("sha256")  # the registry's verified sidecar: no need to hash 1 GB again
    except (OSError, ValueError):
        sha = None
    sha = sha or sha256_file(path)
    return f"{sha}:threads={backend.n_threads}"


def choose_batch_size(backend, *, sizes: Iterable[int] = BATCH_SIZES, refresh: bool = False) -> int:
    """The faster path for this model file and thread count, measured once and cached in
    ``$USCD_CACHE/batch_choice.json`` (1 = single-stream)."""
    if not hasattr(backend, "multi_sequence"):
        return 1
    key = _model_key(backend)
    path = _cache_file()
    data: dict = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            data = {}
    entry = data.get(key)
    if entry is None or refresh:
        curve = measure_batch_curve(backend, sizes)
        entry = {
            "batch": pick_batch_size(curve),
            "curve": {str(k): v for k, v in curve.items()},
            "model": Path(backend.path).name,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        data[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(path)
    return int(entry["batch"])


def generate_problems(
    decoder_or_backend, requests: Iterable[Request | tuple], batch: int | str = "auto"
) -> Iterator[tuple[int, Generation | UscdError]]:
    """Generate every request by the chosen path; yield (index, Generation or UscdError).

    ``batch``: "auto" (measured once per model, see ``choose_batch_size``), or an int
    (1 = the single-stream ``Decoder``). Results come in completion order when batched.
    """
    if isinstance(decoder_or_backend, Decoder):
        decoder, backend = decoder_or_backend, decoder_or_backend.backend
    else:
        decoder, backend = None, decoder_or_backend
    size = resolve_batch(backend, batch)
    if size <= 1:
        if decoder is None:  # one Decoder (two contexts) per backend, not one per call
            decoder = getattr(backend, "_uscd_decoder", None)
            if decoder is None:
                decoder = backend._uscd_decoder = Decoder(backend)
        for index, item in enumerate(requests):
            req = as_request(item)
            try:
                yield index, decoder.generate(req.prompt, req.lame_prompt, req.rule, req.sampler, req.config)
            except UscdError as exc:
                yield index, exc
        return
    # kept on the backend (a weak mapping would not do: the decoder refers to its backend)
    batched = getattr(backend, "_uscd_batched", None)
    if batched is None or batched.batch_size != size:
        if batched is not None:
            batched.close()
        batched = backend._uscd_batched = BatchedDecoder(backend, size)
    yield from batched.generate_many(requests)


def resolve_batch(backend, batch: int | str) -> int:
    """The batch size `batch` ("auto" or an int >= 1) stands for with this backend."""
    if batch == "auto":
        return choose_batch_size(backend)
    try:
        size = int(batch)
    except (TypeError, ValueError):
        raise UscdError(f"batch must be 'auto' or a positive integer, got {batch!r}") from None
    if size < 1:
        raise UscdError(f"batch must be 'auto' or a positive integer, got {batch!r}")
    return size
