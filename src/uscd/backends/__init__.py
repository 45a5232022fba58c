"""The backend protocol: the one seam between the decoding loop and a model runtime.

A backend loads one model and hands out *sequences*: a token sequence with its KV cache.
``extend`` feeds tokens (a batched prefill when there are many) and returns the next-token logits
of the last one over the full vocabulary. The decoding loop owns two sequences (standard and
lame) and keeps them conditioned on the same generated tokens.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Protocol

import numpy as np

from uscd.errors import UscdError


class Sequence(Protocol):
    tokens: list[int]

    def extend(self, tokens: Seq[int]) -> np.ndarray:
        """Append tokens; return a float32 copy of the logits after the last one."""
        ...

    def truncate(self, n: int) -> None:
        """Keep the first n tokens (and their cache); drop the rest."""
        ...

    def reset(self) -> None: ...

    def copy_prefix_from(self, other: Sequence, n: int) -> None:
        """Replace this sequence by the first n tokens of `other`, reusing its cache when possible."""
        ...


class Backend(Protocol):
    name: str
    vocab_size: int
    n_ctx: int  # tokens one sequence may hold

    def tokenize(self, text: str) -> list[int]: ...

    def piece(self, token: int) -> bytes: ...

    def is_eog(self, token: int) -> bool: ...

    def sequence(self) -> Sequence: ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


def load_backend(kind: str, model_path, **options) -> Backend:
    if kind in ("llama", "llama.cpp", "llama_cpp"):
        from uscd.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(model_path, **options)
    if kind in ("hf", "transformers"):
        try:
            from uscd.backends.transformers import TransformersBackend
        except ModuleNotFoundError as exc:
            if exc.name == "uscd.backends.transformers":
                raise UscdError(
                    "the hf backend is declared (uscd[hf]) but not shipped yet; use --backend llama"
                ) from None
            raise UscdError(f"the hf backend needs {exc.name}: pip install 'uscd[hf]'") from None
        return TransformersBackend(model_path, **options)
    raise UscdError(f"unknown backend {kind!r}; choose llama or hf")
