"""The batched driver: several requests in ONE llama context, one decode per step.

Each of ``batch_size`` slots holds one request with its sequence ids in a shared context: the
standard sequence ``stride * slot`` and its auxiliary lanes after it (the lame sequence is
``stride * slot + 1``). Every ``llama_decode`` carries one token per slot that chose one, the
prompt of a slot that was just (re)filled, and the catch-up tokens of auxiliary lanes whose step
needs them. The decisions themselves are ``SequenceState``'s, exactly as in the single stream.

Lazy sync across a batch: whether a step needs the auxiliary logits is known only once that step's
standard logits exist, and they come out of the same decode that would have to carry the catch-up.
So a slot that needs them *waits one decode*: it keeps its standard row, its catch-up (``pending``
tokens, or the whole auxiliary prompt on first need, after the shared prefix is copied with
``llama_memory_seq_cp``) rides in the next decode with the other slots' tokens, and it decides
then. While a slot's steps keep needing them (``hot``), its chosen token is fed to the lanes
together with the standard one, so consecutive uncertain steps do not wait. Both are exact: the
auxiliary logits are always conditioned on the same generated prefix as the standard ones.
Batched kernels change logits in the last digits, so outputs can differ from the single-stream
path at near-ties (tests/test_batched_model.py counts that).

When a request finishes its slot is refilled with the next one (continuous batching). Two entry
points: ``generate_many`` takes an iterable of requests known up front; ``serve`` runs until its
``RequestFeed`` closes, taking requests submitted from other threads while it runs, streaming each
accepted token to the request's listener, and freeing at once the slot (and KV cells) of a request
that is cancelled or runs past its deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import numpy as np

from uscd.engine.feed import RequestFeed, ServerClosed, Ticket
from uscd.engine.generation import Generation
from uscd.engine.prefix import holder, shared_for_start
from uscd.engine.request import Prepared, Request, as_request, prepare
from uscd.engine.state import AuxLane, SequenceState
from uscd.errors import ContextFull, UscdError
from uscd.methods import RULES, StdView, Step

log = logging.getLogger(__name__)

# (request index, step index, standard view, aux logits or None, rule output, token); the arrays
# are only valid during the call (they may be views into llama.cpp's buffers)
BatchHook = Callable[[int, int, StdView, "np.ndarray | None", Step, int], None]
PREFETCH_POLICIES = ("hot", "always", "never")


class _Slot:
    """One request in flight: its sequence ids, what it feeds the next decode, and its state."""

    def __init__(self, slot: int, stride: int, index: int, state: SequenceState) -> None:
        self.std_seq = stride * slot
        self.lane_seq = {lane.name: stride * slot + 1 + k for k, lane in enumerate(state.aux)}
        self.index = index
        self.state = state
        self.t0 = time.perf_counter()
        self.feeds: dict[int, list[int]] = {}  # seq id -> tokens for the next decode
        self.hot = False  # the last step needed the aux logits: feed the lanes along
        self.prefilled = False
        self.waiting = False  # for a sibling's decode of the same prompt, to take its cache
        self.error: UscdError | None = None  # set when the request fails on its own
        self.ticket: Ticket | None = None  # serve(): the submitted request this slot decodes
        self.sent = 0  # serve(): characters of settled text streamed so far

    @property
    def prompt_tokens(self) -> list[int]:
        return self.state.prompt_tokens

    def seqs(self) -> list[int]:
        return [self.std_seq, *self.lane_seq.values()]


class BatchedDecoder:
    """Generates many requests at once, `batch_size` requests per llama context."""

    def __init__(
        self, backend, batch_size: int, *, prefetch_lame: bool | str = "hot", branches: int = 0
    ) -> None:
        """prefetch_lame: once a request's aux lanes exist, when to feed them each chosen token in
        the same decode as the standard sequence: "hot" (True) after a step that needed them,
        "always" (no slot ever waits again, each token costs more batch rows), "never" (False:
        strictly lazy, a slot waits one decode whenever it needs them).
        branches: scratch sequences per slot for ``fork`` (0: none, the context is as small as can be)."""
        if batch_size < 1:
            raise UscdError(f"the batch size must be at least 1, got {batch_size}")
        if not backend.capabilities.multi_sequence:
            raise UscdError(f"the {backend.name} backend cannot decode several sequences in one context")
        policy = {True: "hot", False: "never"}.get(prefetch_lame, prefetch_lame)  # type: ignore[call-overload]
        if policy not in PREFETCH_POLICIES:
            raise UscdError(f"prefetch_lame must be hot, always or never, got {prefetch_lame!r}")
        self.backend = backend
        self.batch_size = batch_size
        self.prefetch_lame = policy
        self.branches = branches
        self._ctx = None
        self._slots: list[_Slot | None] = []
        self._round: dict[int, np.ndarray | None] = {}

    # -- the shared context --------------------------------------------------------------------

    def _context(self, cells: int, stride: int):
        cells = -(-cells // 256) * 256
        n_seq = stride * self.batch_size + self.branches * self.batch_size
        if self._ctx is None or self._ctx.n_ctx < cells or self._ctx.n_seq != n_seq:
            if self._ctx is not None:
                self.backend.release(self._ctx)
            self._ctx = self.backend.multi_sequence(n_seq, cells)
        else:
            self._ctx.clear()
        return self._ctx

    def _cells_needed(self, prepared: list[Prepared]) -> int:
        """KV cells for the `batch_size` hungriest requests at once (a shared prefix is not counted
        twice by llama.cpp, but it is here: the bound stays safe)."""
        needs = []
        for p in prepared:
            new = p.request.config.max_new_tokens
            n = len(p.prompt_tokens) + new + sum(len(t) + new for t in p.aux_tokens.values())
            n += p.request.rule.max_lookahead() + 1 if p.request.rule.max_lookahead() else 0
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
        """Yield (request index, Generation) as requests finish, in completion order.

        A request that fails on its own (empty prompt, prompt longer than the context, context
        full while generating) yields (index, UscdError) instead; the others go on.
        """
        queue: list[tuple[int, Prepared | UscdError]] = []
        for index, item in enumerate(requests):
            try:
                queue.append((index, prepare(self.backend, as_request(item))))
            except UscdError as exc:
                queue.append((index, exc))
        if not queue:
            return
        ok = [p for _, p in queue if not isinstance(p, UscdError)]
        stride = max([2, *(1 + len(p.aux_tokens) for p in ok)])
        if any(p.request.rule.max_lookahead() for p in ok):
            self.branches = max(self.branches, 1)  # a scratch sequence per slot for the rollouts
        ctx = self._context(self._cells_needed(ok), stride)
        self._slots = [None] * self.batch_size
        pending = iter(queue)
        yield from self._refill(pending, ctx, stride, hook)
        while any(slot is not None for slot in self._slots):
            for slot in self._decode_round(ctx):
                self._slots[self._slots.index(slot)] = None
                yield slot.index, slot.error or self._finish(slot)
            yield from self._refill(pending, ctx, stride, hook)

    def _refill(self, pending, ctx, stride: int, hook) -> Iterator[tuple[int, UscdError]]:
        slots = self._slots
        for s in range(self.batch_size):
            while slots[s] is None:
                nxt = next(pending, None)
                if nxt is None:
                    return
                index, prepared = nxt
                if isinstance(prepared, UscdError):
                    yield index, prepared
                    continue
                state = SequenceState(prepared, self.backend, None if hook is None else _bind(hook, index))
                if state.take_continuation():  # its continuation alone ends it: nothing to decode
                    yield index, state.finish()
                    continue
                slots[s] = slot = _Slot(s, stride, index, state)
                slot.waiting = slot.state.config.share_prefix and _being_prefilled(ctx, slots, slot)
                if not slot.waiting:
                    self._take_prompt(slot, ctx)

    def _decode_round(self, ctx) -> list[_Slot]:
        """One decode for every slot's feeds; each slot then decides if it can. The finished slots."""
        active = [slot for slot in self._slots if slot is not None]
        items = [(slot, seq) for slot in active for seq in slot.seqs()]
        fed = [(seq, slot.feeds[seq], True) for slot, seq in items if slot.feeds.get(seq)]
        t0 = time.perf_counter()
        rows = iter(ctx.decode(fed))
        dt = time.perf_counter() - t0
        self._round = by_seq = {seq: next(rows) for slot, seq in items if slot.feeds.get(seq)}
        done = []
        for slot in active:
            if slot.waiting:  # its prompt's cache is in a sibling sequence now
                slot.waiting = False
                self._take_prompt(slot, ctx)
                continue
            got = {seq: by_seq.get(seq) for seq in slot.seqs()}
            slot.feeds = {}
            self._receive(slot, got, dt)
            if self._advance(slot, ctx):
                done.append(slot)
        return done

    def _receive(self, slot: _Slot, got: dict, dt: float) -> None:
        st = slot.state
        std_row = got[slot.std_seq]
        if not slot.prefilled and std_row is not None:
            slot.prefilled = True
            st.out.prefill_s = dt
        for lane in st.aux:
            row = got[slot.lane_seq[lane.name]]
            # a fresh std row invalidates what the lanes held (unless they were fed along with it)
            if std_row is not None or row is not None:
                lane.logits = row
        if std_row is not None:
            st.observe(std_row)

    def _advance(self, slot: _Slot, ctx) -> bool:
        """Decide the slot's step if it can; schedule its next feeds. True when it is done."""
        st = slot.state
        need = st.aux_needed()
        if need and any(lane.logits is None for lane in st.aux):
            try:
                self._schedule_catch_up(slot, ctx)
            except ContextFull as exc:
                slot.error = exc
                return True
            st.view.logits = st.view.logits.copy()  # type: ignore[union-attr]  # outlives the next decode
            return False
        rollouts = None
        if st.looks_ahead:
            held = ctx.length(slot.std_seq)
            rollouts = st.lookahead(lambda: self._fork_slot(slot), held, self.backend.n_ctx)
        if st.accept(st.decide(st.aux_rows(need), rollouts)):
            return True
        for lane in st.aux:
            lane.logits = None
        token = st.generated[-1]
        if slot.ticket is not None:
            self._stream(slot, token)
        try:
            _check_room(self.backend, ctx, slot.std_seq, 1)
            slot.feeds[slot.std_seq] = [token]
            if st.aux and any(lane.started for lane in st.aux):
                policy = self.prefetch_lame
                slot.hot = st.eager or policy == "always" or (policy == "hot" and need)
                if slot.hot:
                    self._feed_lanes(slot, ctx)
        except ContextFull as exc:
            slot.error = exc
            return True
        return False

    def _take_prompt(self, slot: _Slot, ctx) -> None:
        """Start a refilled slot's standard sequence (its prompt and continuation), reusing the cache
        of a sequence that already holds the same prompt (the other samples of a problem when n > 1;
        the generation a branch continues, while its cells are kept)."""
        prompt = slot.prompt_tokens
        full = prompt + slot.state.continuation
        src, shared = holder(ctx.tokens, prompt, full) if slot.state.config.share_prefix else (None, 0)
        if src == slot.std_seq:  # this slot's previous request had the same prompt
            ctx.truncate(src, shared)
        elif src is not None:
            ctx.copy_prefix(src, slot.std_seq, shared)
        else:
            ctx.remove(slot.std_seq)
        for seq in slot.lane_seq.values():
            ctx.remove(seq)
        slot.feeds = {slot.std_seq: full[shared:]}
        slot.state.out.reused_prompt_tokens = shared

    def _schedule_catch_up(self, slot: _Slot, ctx) -> None:
        for lane in slot.state.aux:
            if not lane.started:
                self._start(slot, lane, ctx)
        if not any(lane.pending for lane in slot.state.aux):  # pragma: no cover - cannot happen
            raise UscdError("internal error: a slot waits for its aux logits with nothing to evaluate")
        self._feed_lanes(slot, ctx)

    def _start(self, slot: _Slot, lane: AuxLane, ctx) -> None:
        st, seq = slot.state, slot.lane_seq[lane.name]
        full = lane.prompt_tokens + st.generated
        src, shared = slot.std_seq, 0
        if st.config.share_prefix:
            shared = shared_for_start(ctx.tokens[slot.std_seq], full)
            other, held = holder(ctx.tokens, lane.prompt_tokens, full)
            if other is not None and held > shared:  # another sample's lane
                src, shared = other, held
        if shared > 0:
            ctx.copy_prefix(src, seq, shared)
        else:
            ctx.remove(seq)
        st.start(lane, shared)

    def _feed_lanes(self, slot: _Slot, ctx) -> None:
        for lane in slot.state.aux:
            if lane.pending:
                seq = slot.lane_seq[lane.name]
                _check_room(self.backend, ctx, seq, len(lane.pending))
                slot.feeds[seq] = slot.state.take_pending(lane)

    def _finish(self, slot: _Slot) -> Generation:
        out = slot.state.finish()
        out.decode_s = time.perf_counter() - slot.t0 - out.prefill_s
        return out

    # -- serving: requests submitted while the loop runs ------------------------------------------

    def serve(self, feed: RequestFeed, *, cells: int | None = None, idle_s: float = 1.0) -> None:
        """Decode the tickets `feed` brings until it is closed; call from ONE thread, the only one
        that touches the backend while this runs.

        Each slot sequence may hold up to ``backend.n_ctx`` tokens; the shared pool has `cells` KV
        cells (default: enough for every sequence of every slot at full length, so the pool itself
        can never run out). A request's token limit is cut to what the context leaves after its
        prompt. A failure of the whole decode fails the requests in it, never the loop.
        """
        stride = serve_stride()
        ctx = self._context(cells or self.batch_size * stride * self.backend.n_ctx, stride)
        self._slots = [None] * self.batch_size
        try:
            while not feed.closed:
                self._serve_step(feed, ctx, stride, idle_s)
        finally:
            self._shut_down(feed, ctx)

    def in_flight(self) -> int:
        """Slots holding a request now (0 when the loop is idle: no slot is ever leaked)."""
        return sum(slot is not None for slot in self._slots)

    def _serve_step(self, feed: RequestFeed, ctx, stride: int, idle_s: float) -> None:
        try:
            self._admit(feed)
            self._drop_lapsed(feed, ctx)
            self._refill_from(feed, ctx, stride)
            if not self.in_flight():
                feed.wait(idle_s)
                return
            done = self._decode_round(ctx)
        except Exception as exc:  # one bad round fails the requests in it, never the loop
            log.exception("batched decode failed; failing the requests in flight")
            error = exc if isinstance(exc, UscdError) else UscdError(f"internal error: {exc}")
            for slot in [s for s in self._slots if s is not None]:
                self._release(slot, ctx, error)
            ctx.clear()
            return
        for slot in done:
            self._release(slot, ctx, slot.error or self._finish(slot))

    def _admit(self, feed: RequestFeed) -> None:
        """Tokenise and check what arrived; a request that cannot run fails now, not at its turn."""
        for ticket in feed.arrivals():
            try:
                prepared = ticket.prepare(self.backend, ticket.request)
                ticket.prepared = _within_context(self.backend, prepared)
            except UscdError as exc:
                _notify(ticket, "done", exc)
                continue
            feed.ready(ticket)
            _notify(ticket, "started", ticket.prepared)

    def _drop_lapsed(self, feed: RequestFeed, ctx) -> None:
        now = time.monotonic()
        for ticket, reason in feed.sweep(now):
            _notify(ticket, "done", reason)
        for slot in self._slots:
            if slot is not None and slot.ticket is not None and (reason := slot.ticket.lapsed(now)):
                self._release(slot, ctx, reason)

    def _refill_from(self, feed: RequestFeed, ctx, stride: int) -> None:
        for s in range(self.batch_size):
            while self._slots[s] is None:
                ticket = feed.next_ready()
                if ticket is None:
                    return
                self._fill(s, ticket, ctx, stride)

    def _fill(self, s: int, ticket: Ticket, ctx, stride: int) -> None:
        """Put a ticket in free slot `s` (or finish it at once, when its continuation ends it)."""
        assert ticket.prepared is not None
        state = SequenceState(ticket.prepared, self.backend, ticket.hook)
        # a continuation that ends the generation by itself leaves nothing to decode
        if state.take_continuation(ticket.continuation_trace):
            _notify(ticket, "done", state.finish())
            return
        self._slots[s] = slot = _Slot(s, stride, ticket.id, state)
        slot.ticket = ticket
        slot.waiting = state.config.share_prefix and _being_prefilled(ctx, self._slots, slot)
        if not slot.waiting:
            self._take_prompt(slot, ctx)

    def _stream(self, slot: _Slot, token: int) -> None:
        settled = slot.state.text.settled()
        _notify(slot.ticket, "token", token, settled[slot.sent :])
        slot.sent = len(settled)

    def _release(self, slot: _Slot, ctx, result: Generation | UscdError) -> None:
        """Empty a slot and report. A request that did not finish normally gives its KV cells back
        at once; a finished one leaves them for a later request with the same prompt to reuse."""
        self._slots[self._slots.index(slot)] = None
        if isinstance(result, UscdError):
            for seq in slot.seqs():
                ctx.remove(seq)
        _notify(slot.ticket, "done", result)

    def _shut_down(self, feed: RequestFeed, ctx) -> None:
        closed = ServerClosed("the server is shutting down")
        for slot in [s for s in self._slots if s is not None]:
            self._release(slot, ctx, closed)
        for ticket in feed.drain():
            _notify(ticket, "done", closed)

    # -- branching -----------------------------------------------------------------------------

    def fork(self, index: int, n: int | None = None) -> BatchedBranch:
        """Branch off the standard sequence of in-flight request `index` (its first n tokens) into
        the slot's scratch sequence; call from a hook. The decode's other rows are copied first, so
        the branch's own decodes leave them intact."""
        if self.branches < 1:
            raise UscdError("this batched decoder has no scratch sequences: create it with branches=1")
        slot = next((s for s in self._slots if s is not None and s.index == index), None)
        if slot is None:
            raise UscdError(f"request {index} is not in flight")
        return self._fork_slot(slot, n)

    def _fork_slot(self, slot: _Slot, n: int | None = None) -> BatchedBranch:
        self._detach_round()
        ctx = self._ctx
        scratch = ctx.n_seq - self.branches * self.batch_size + self._slots.index(slot) * self.branches
        return BatchedBranch(ctx, scratch, slot.std_seq, len(ctx.tokens[slot.std_seq]) if n is None else n)

    def _detach_round(self) -> None:
        """Copy every row of the last decode that is still a view into llama.cpp's buffer: the
        rows not yet handed to their slot, and those the slots hold."""
        for seq, row in self._round.items():
            if row is not None and not row.flags.owndata:
                self._round[seq] = row.copy()
        for slot in self._slots:
            if slot is None:
                continue
            view = slot.state.view
            if view is not None and not view.logits.flags.owndata:
                view.logits = view.logits.copy()
            for lane in slot.state.aux:
                if lane.logits is not None and not lane.logits.flags.owndata:
                    lane.logits = lane.logits.copy()


class BatchedBranch:
    """A scratch sequence in the shared context holding a copy of another's first n tokens (the
    KV cells are shared by tag, not copied)."""

    def __init__(self, ctx, seq: int, source: int, n: int) -> None:
        self.ctx, self.seq = ctx, seq
        ctx.copy_prefix(source, seq, n)
        self.n = len(ctx.tokens[seq])

    @property
    def tokens(self) -> list[int]:
        return self.ctx.tokens[self.seq]

    def extend(self, tokens: list[int]) -> np.ndarray:
        (row,) = self.ctx.decode([(self.seq, tokens, True)])
        return row.copy()

    def rewind(self) -> None:
        """Back to the fork point (the branch's own tokens are dropped, the prefix kept)."""
        self.ctx.truncate(self.seq, self.n)

    def drop(self) -> None:
        self.ctx.remove(self.seq)


def serve_stride() -> int:
    """Sequences per slot when any rule may arrive: the standard one and the most lanes a rule reads."""
    # `aux` is a class attribute, or a property of the knobs (SPA): then read it off the defaults
    lanes = (len(rule.aux) if isinstance(rule.aux, tuple) else len(rule().aux) for rule in RULES.values())
    return max(2, 1 + max(lanes))


def _within_context(backend, prepared: Prepared) -> Prepared:
    """The request with its token limit cut to what the context leaves after its longest prompt."""
    longest = max([len(prepared.prompt_tokens), *(len(t) for t in prepared.aux_tokens.values())])
    config = prepared.request.config
    room = backend.n_ctx - longest
    if config.max_new_tokens <= room:
        return prepared
    return replace(prepared, request=replace(prepared.request, config=replace(config, max_new_tokens=room)))


def _notify(ticket: Ticket | None, event: str, *args) -> None:
    """Call a listener; its failure (a bug on the other side) cancels the ticket, never the loop."""
    if ticket is None:
        return
    try:
        getattr(ticket.listener, event)(*args)
    except Exception:
        log.exception("a listener failed on %s; cancelling its request", event)
        ticket.cancelled = True


def _bind(hook: BatchHook, index: int):
    return lambda step_index, view, aux, step, token: hook(index, step_index, view, aux, step, token)


def _check_room(backend, ctx, seq: int, n: int) -> None:
    have = ctx.length(seq)
    if have + n > backend.n_ctx:
        raise ContextFull(
            f"the sequence would hold {have + n} tokens, more than the context of {backend.n_ctx} "
            "(raise --n-ctx or lower --max-new-tokens)"
        )


def _being_prefilled(ctx, slots: list, slot: _Slot) -> bool:
    """Does another slot evaluate this slot's prompt in the next decode? Then wait one decode and
    take its cache rather than evaluating the same prompt twice in one batch."""
    if holder(ctx.tokens, slot.prompt_tokens, slot.prompt_tokens)[0] is not None:
        return False
    return any(
        other is not None
        and other is not slot
        and not other.waiting
        and other.feeds.get(other.std_seq)
        and other.prompt_tokens == slot.prompt_tokens
        for other in slots
    )
