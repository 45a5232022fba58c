"""A character-level fake model whose next-token distribution is written down as a script: per
prompt, a few whole programs with weights. At each step the probability of a character is the
weight of the programs that continue the text generated so far with it (EOS when a program is
complete), so the greedy program, the uncertain steps and what a flip at one of them leads to are
all known in advance. Used by the premise study's tests (tests/test_analysis_oracle.py)."""

from __future__ import annotations

import numpy as np
from tests.test_batched import FakeBackend

from uscd.engine.backends import Capabilities

CHARS = "\n" + "".join(chr(c) for c in range(32, 127))
EOS = 0
V = len(CHARS) + 1
FLOOR = 1e-7  # every other token keeps a tiny probability: finite logits, never in V_head


class ScriptedBackend(FakeBackend):
    """tests/test_batched.py's fake backend (its sequences) with a scripted model, single stream."""

    name = "scripted"
    capabilities = Capabilities(multi_sequence=False, views=False)
    vocab_size = V
    n_threads = 1

    def __init__(self, scripts: dict[str, list[tuple[str, float]]], n_ctx: int = 4096) -> None:
        super().__init__(n_ctx)
        self.scripts = scripts
        self.path = "scripted.gguf"

    def tokenize(self, text: str) -> list[int]:
        return [CHARS.index(c) + 1 for c in text]

    def piece(self, token: int) -> bytes:
        return b"" if token == EOS else CHARS[token - 1].encode()

    def is_eog(self, token: int) -> bool:
        return token == EOS

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
