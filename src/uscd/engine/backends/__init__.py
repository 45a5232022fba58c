"""The backend protocol: the one seam between the decoding engine and a model runtime.

A backend loads one model and hands out *sequences*: a token sequence with its KV cache.
``extend`` feeds tokens (a batched prefill when there are many) and returns the next-token logits
of the last one over the full vocabulary. What a backend can do beyond that is declared in
``capabilities``, never probed with ``hasattr``: the engine reads it to choose its path.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from uscd.errors import UscdError


@dataclass(frozen=True)
class Capabilities:
    # several sequences in one context, advanced by one decode (``multi_sequence``): the batched driver
    multi_sequence: bool = False
    # ``extend(..., copy=False)`` may return a view into the runtime's buffer (valid until the next decode)
    views: bool = False


class Sequence(Protocol):
    tokens: list[int]

    def extend(self, tokens: Seq[int], *, copy: bool = True) -> np.ndarray:
        """Append tokens; return the logits after the last one (a float32 copy unless copy=False and
        the backend declares ``views``)."""
        ...

    def extend_rows(self, tokens: Seq[int], first: int = 0) -> np.ndarray:
        """Append tokens; return the logits after each of tokens[first:] (one row per token, float32):
        teacher forcing, for calibration."""
        ...

    def truncate(self, n: int) -> None:
        """Keep the first n tokens (and their cache); drop the rest."""
        ...

    def reset(self) -> None: ...

    def copy_prefix_from(self, other: Sequence, n: int) -> None:
        """Replace this sequence by the first n tokens of `other`, reusing its cache when possible."""
        ...


class MultiSequence(Protocol):
    """Several sequences (by integer id) sharing one context and one KV pool."""

    n_ctx: int
    tokens: list[list[int]]

    def decode(self, items: Seq[tuple[int, Seq[int], bool]]) -> list[np.ndarray | None]:
        """(seq id, tokens, want logits) items in one decode; the logits after each item's last token."""
        ...

    def length(self, seq: int) -> int: ...

    def remove(self, seq: int) -> None: ...

    def truncate(self, seq: int, n: int) -> None: ...

    def copy_prefix(self, src: int, dst: int, n: int) -> None: ...

    def clear(self) -> None: ...


class Backend(Protocol):
    name: str
    path: Path
    vocab_size: int
    n_ctx: int  # tokens one sequence may hold
    n_threads: int
    capabilities: Capabilities

    def tokenize(self, text: str) -> list[int]: ...

    def tokenize_special(self, text: str) -> list[int]:
        """Tokens of text that holds special-token markup (a rendered chat template)."""
        ...

    def chat_template(self) -> str | None:
        """The model's chat template (GGUF ``tokenizer.chat_template``), if it has one."""
        ...

    def special_token_texts(self) -> dict[str, str]: ...

    def piece(self, token: int) -> bytes: ...

    def is_eog(self, token: int) -> bool: ...

    def sequence(self) -> Sequence: ...

    def multi_sequence(self, n_seq: int, n_ctx: int) -> MultiSequence:
        """Only when ``capabilities.multi_sequence``."""
        ...

    def release(self, seq: Sequence | MultiSequence) -> None:
        """Free a sequence or multi-sequence context before the backend closes."""
        ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


def load_backend(kind: str, model_path, *, dtype: str | None = None, **options) -> Backend:
    """`dtype` (float32, bfloat16, float16; None: the backend's default) is the hf backend's only."""
    if kind in ("llama", "llama.cpp", "llama_cpp"):
        if dtype is not None:
            raise UscdError("--dtype is for --backend hf (llama.cpp runs the GGUF's own types)")
        from uscd.engine.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(model_path, **options)
    if kind in ("hf", "transformers"):
        try:
            from uscd.engine.backends.transformers import TransformersBackend
        except ModuleNotFoundError as exc:
            raise UscdError(f"the hf backend needs {exc.name}: pip install 'uscd[hf]'") from None
        return TransformersBackend(model_path, dtype=dtype, **options)
    raise UscdError(f"unknown backend {kind!r}; choose llama or hf")
