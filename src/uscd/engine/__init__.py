"""The decoding engine: one per-sequence state machine (``state``) stepped by two drivers — the
single stream (``single``) and the batched context (``batched``) — chosen by ``dispatch``, over
any backend that follows the protocol in ``backends``.

    requests -> prepare (request.py) -> SequenceState (state.py) -> Decoder | BatchedDecoder -> Generation
"""

from uscd.engine.batched import BatchedBranch, BatchedDecoder, BatchHook
from uscd.engine.dispatch import (
    Engine,
    choose_batch_size,
    generate_problems,
    measure_batch_curve,
    pick_batch_size,
    resolve_batch,
)
from uscd.engine.feed import (
    Cancelled,
    DeadlineExceeded,
    Listener,
    QueueFull,
    RequestFeed,
    ServerClosed,
    Ticket,
)
from uscd.engine.generation import FINISH_REASONS, Generation, GenerationConfig, TokenTrace
from uscd.engine.request import Prepared, PromptTooLong, Request, prepare
from uscd.engine.single import Branch, Decoder, open_decoder
from uscd.engine.state import SequenceState, StepHook

__all__ = [
    "FINISH_REASONS",
    "BatchHook",
    "BatchedBranch",
    "BatchedDecoder",
    "Branch",
    "Cancelled",
    "DeadlineExceeded",
    "Decoder",
    "Engine",
    "Generation",
    "GenerationConfig",
    "Listener",
    "Prepared",
    "PromptTooLong",
    "QueueFull",
    "Request",
    "RequestFeed",
    "SequenceState",
    "ServerClosed",
    "StepHook",
    "Ticket",
    "TokenTrace",
    "choose_batch_size",
    "generate_problems",
    "measure_batch_curve",
    "open_decoder",
    "open_engine",
    "pick_batch_size",
    "prepare",
    "resolve_batch",
]


def open_engine(
    model: str | None = None, *, backend: str = "llama", n_ctx: int = 4096, n_threads=None, dtype=None
) -> Engine:
    """Load a model (registry name, alias or .gguf path; None = the embedded default) into an Engine."""
    from uscd.engine.backends import load_backend
    from uscd.models import resolve

    return Engine(load_backend(backend, resolve(model), n_ctx=n_ctx, n_threads=n_threads, dtype=dtype))
