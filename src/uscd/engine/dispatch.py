"""Which driver decodes a list of requests: the single stream, or the batched one at the batch size
measured fastest for this model file (once, cached in ``$USCD_CACHE/batch_choice.json``).

Which path is faster depends on the model and the machine (shared/docs/runtime.md §4.4: a 2-token
batch costs ~2.5x one token for the mostly-Q5_0 0.5B model, while batching pays for the Q4_K
1.5B). An ``Engine`` owns one backend and the decoders it made for it, so whoever holds the engine
(the runner, the server) owns its decoders.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from uscd.engine.batched import BatchedDecoder
from uscd.engine.generation import Generation
from uscd.engine.request import Request, as_request
from uscd.engine.single import Decoder
from uscd.errors import UscdError

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


class Engine:
    """One backend and the decoders made for it (created on first use, reused across calls)."""

    def __init__(self, backend, decoder: Decoder | None = None) -> None:
        self.backend = backend
        self._single = decoder
        self._batched: BatchedDecoder | None = None
        self.check_level = "auto"  # the sandbox level a program search (branch) runs its checks at

    @property
    def single(self) -> Decoder:
        if self._single is None:  # one Decoder (its contexts) per engine, not one per call
            self._single = Decoder(self.backend)
        return self._single

    def batched(self, size: int) -> BatchedDecoder:
        if self._batched is None or self._batched.batch_size != size:
            if self._batched is not None:
                self._batched.close()
            self._batched = BatchedDecoder(self.backend, size)
        return self._batched

    def batch_size(self, batch: int | str) -> int:
        return resolve_batch(self.backend, batch)

    def generate(
        self, requests: Iterable[Request | tuple], batch: int | str = 1
    ) -> Iterator[tuple[int, Generation | UscdError]]:
        """Generate every request by the chosen path; yield (index, Generation or UscdError).

        ``batch``: "auto" (measured once per model, see ``choose_batch_size``), or an int
        (1 = the single-stream ``Decoder``). Results come in completion order when batched.
        """
        size = self.batch_size(batch)
        if size > 1:
            requests = [as_request(item) for item in requests]
            if any(r.rule.program_search for r in requests):
                yield from self._searches(requests, size)
                return
            yield from self.batched(size).generate_many(requests)
            return
        for index, item in enumerate(requests):
            req = as_request(item)
            try:
                yield index, self._one(req)
            except UscdError as exc:
                yield index, exc

    def _one(self, req: Request) -> Generation:
        if req.rule.program_search:  # a search over programs (branch, filter), not one decode
            from uscd.search import run_search

            return run_search(self.single, req, self.check_level)
        return self.single.run(req)

    def _searches(self, requests: list[Request], size: int) -> Iterator[tuple[int, Generation | UscdError]]:
        if not all(r.rule.program_search for r in requests):
            raise UscdError("a batch cannot mix program searches (branch, filter) with other requests")
        from uscd.search.batched import search_many

        yield from search_many(self.batched(size), requests, self.check_level)

    def close(self) -> None:
        if self._batched is not None:
            self._batched.close()
        self.backend.close()


def generate_problems(
    engine, requests: Iterable[Request | tuple], batch: int | str = "auto"
) -> Iterator[tuple[int, Generation | UscdError]]:
    """``Engine.generate`` for callers that hold an engine, a single-stream decoder or a backend
    (the decoders made for the latter two live as long as this call)."""
    if isinstance(engine, Decoder):
        engine = Engine(engine.backend, engine)
    elif not isinstance(engine, Engine):
        engine = Engine(engine)
    yield from engine.generate(requests, batch)


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


def choose_batch_size(backend, *, sizes: Iterable[int] = BATCH_SIZES, refresh: bool = False) -> int:
    """The faster path for this model file and thread count, measured once and cached in
    ``$USCD_CACHE/batch_choice.json`` (1 = single-stream)."""
    if not backend.capabilities.multi_sequence:
        return 1
    key = _model_key(backend)
    path = _cache_file()
    data = _read_choices(path)
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


def pick_batch_size(curve: dict, margin: float = CHOICE_MARGIN) -> int:
    """The batch size with the best tokens/s, if it beats single-stream by `margin`; else 1."""
    base = curve.get(1, 0.0)
    best = max(curve, key=lambda s: curve[s])
    return best if best != 1 and curve[best] >= margin * base else 1


def measure_batch_curve(
    backend, sizes: Iterable[int] = BATCH_SIZES, steps: int = 32, warmup: int = 3
) -> dict:
    """Decode tokens/s per batch size on a fixed prompt: {size: tokens/s}.

    Size 1 is the single-stream path (one sequence in its own context, as ``Decoder`` runs it);
    size B > 1 is B sequences in one multi-sequence context, each fed one token per decode, with
    every row's logits read (as the batched loop does).
    """
    prompt = backend.tokenize(CURVE_PROMPT)
    return {
        size: _single_speed(backend, prompt, steps, warmup)
        if size == 1
        else _batch_speed(backend, prompt, size, steps, warmup)
        for size in sizes
    }


def _single_speed(backend, prompt: list[int], steps: int, warmup: int) -> float:
    seq = backend.sequence()
    try:
        row = seq.extend(prompt, copy=False)
        for i in range(warmup + steps):
            if i == warmup:
                t0 = time.perf_counter()
            row = seq.extend([int(np.argmax(row))], copy=False)
        return round(steps / (time.perf_counter() - t0), 2)
    finally:
        backend.release(seq)


def _batch_speed(backend, prompt: list[int], size: int, steps: int, warmup: int) -> float:
    ctx = backend.multi_sequence(size, -(-(len(prompt) * size + (warmup + steps + 1) * size) // 256) * 256)
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
        return round(size * steps / (time.perf_counter() - t0), 2)
    finally:
        backend.release(ctx)


def _cache_file() -> Path:
    from uscd.models import cache_dir

    return cache_dir() / CHOICE_FILE


def _read_choices(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _model_key(backend) -> str:
    from uscd.models import describe

    return f"{describe(Path(backend.path))['sha256']}:threads={backend.n_threads}"
