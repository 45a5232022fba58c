"""A character-level fake model whose next-token distribution is written down as a script: per
prompt, a few whole programs with weights. At each step the probability of a character is the
weight of the programs that continue the text generated so far with it (EOS when a program is
complete), so the greedy program, the uncertain steps and what a flip at one of them leads to are
all known in advance. Used by the premise study's tests (tests/test_analysis_oracle.py)."""

from __future__ import annotations

import numpy as np

from uscd.engine.backends import Capabilities
from uscd.errors import ContextFull

CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
EOS = 0
V = len(CHARS) + 1
FLOOR = 1e-7  # every other token keeps a tiny probability: finite logits, never in V_head


class ScriptedSequence:
    def __init__(self, backend: ScriptedBackend) -> None:
        self.backend = backend
        self.tokens: list[int] = []

    def extend(self, tokens, copy=True):
        if len(self.tokens) + len(tokens) > self.backend.n_ctx:
            raise ContextFull("full")
        self.tokens.extend(tokens)
        self.backend.evaluated += len(tokens)
        return self.backend.logits(self.tokens)

    def truncate(self, n):
        del self.tokens[n:]

    def reset(self):
        self.tokens = []

    def copy_prefix_from(self, other, n):
        self.tokens = list(other.tokens[:n])

    def close(self):
        pass


class ScriptedBackend:
    name = "scripted"
    capabilities = Capabilities(multi_sequence=False, views=False)
    vocab_size = V
    n_threads = 1
    path = "scripted.gguf"

    def __init__(self, scripts: dict[str, list[tuple[str, float]]], n_ctx: int = 4096) -> None:
        self.scripts = scripts
        self.n_ctx = n_ctx
        self.evaluated = 0

    def tokenize(self, text: str) -> list[int]:
        return [CHARS.index(c) + 1 for c in text]

    def tokenize_special(self, text: str) -> list[int]:
        return self.tokenize(text)

    def piece(self, token: int) -> bytes:
        return b"" if token == EOS else CHARS[token - 1].encode()

    def is_eog(self, token: int) -> bool:
        return token == EOS

    def chat_template(self):
        return None

    def special_token_texts(self):
        return {}

    def sequence(self) -> ScriptedSequence:
        return ScriptedSequence(self)

    def release(self, seq) -> None:
        pass

    def describe(self) -> dict:
        return {"name": self.name, "n_ctx": self.n_ctx}

    def close(self) -> None:
        pass

    def logits(self, tokens: list[int]) -> np.ndarray:
        text = "".join(self.piece(t).decode() for t in tokens)
        prompt = max((p for p in self.scripts if text.startswith(p)), key=len, default=None)
        probs = np.full(V, FLOOR, dtype=np.float64)
        if prompt is None:
            probs[EOS] = 1.0
            return np.log(probs).astype(np.float32)
        generated = text[len(prompt) :]
        for program, weight in self.scripts[prompt]:
            if program.startswith(generated):
                rest = program[len(generated) :]
                probs[self.tokenize(rest[0])[0] if rest else EOS] += weight
        if probs.max() <= FLOOR:  # off every script: end
            probs[EOS] = 1.0
        return np.log(probs / probs.sum()).astype(np.float32)
