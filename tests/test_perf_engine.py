"""Shared-prompt-prefix reuse on the real default model: the lame logits after copying the common
prefix's cache and evaluating only the tail match a fresh prefill of the whole lame prompt, in the
single-stream engine (state copy between contexts) and in the batched engine (seq_cp within one
context)."""

from __future__ import annotations

import numpy as np
import pytest

from uscd.engine import BatchedDecoder, GenerationConfig, Request
from uscd.methods import Sampler, make_rule

pytestmark = pytest.mark.model

STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert ")
LOGIT_TOLERANCE = 1.0  # batch-split noise of this quantized model is up to ~0.7 (test_engine_model.py)


def lame_of(prompt: str) -> str:
    from uscd.prompts.lame import derive

    return derive(prompt, "python").lame


def first_lame_step(decoder, prompt, lame, max_new=24):
    """(step index, lame logits, lame sequence tokens) at the first step that evaluated p_lame."""
    captured = []

    def hook(i, view, lame_logits, step, token):
        if lame_logits is not None and not captured:
            captured.append((i, lame_logits.copy(), list(decoder.lame.tokens)))

    cfg = GenerationConfig(max_new_tokens=max_new, stop=STOPS)
    gen = decoder.generate(prompt, lame, make_rule("cd"), Sampler(), cfg, hook=hook)
    assert captured, "cd never needed p_lame"
    return gen, captured[0]


def test_shared_prefix_copy_matches_a_fresh_prefill(decoder, humaneval_records):
    fresh = decoder.backend.sequence()
    try:
        for rec in humaneval_records[:3]:
            lame = lame_of(rec["prompt"])
            lame_tokens = decoder.backend.tokenize(lame)
            gen, (i, lame_logits, seq_tokens) = first_lame_step(decoder, rec["prompt"], lame)
            assert gen.shared_prefix_tokens > 0, f"{rec['task_id']}: the prefix copy was not used"
            expected = lame_tokens + gen.tokens[:i]
            assert seq_tokens == expected
            # the first sync evaluated only the tail after the shared prefix
            assert gen.lame_tokens_evaluated < len(expected) or gen.lame_syncs > 1
            fresh.reset()
            reference = fresh.extend(expected)
            diff = float(np.abs(reference - lame_logits).max())
            assert diff <= LOGIT_TOLERANCE, (
                f"{rec['task_id']}: shared-prefix lame logits differ by {diff:.3f}"
            )
            assert int(np.argmax(reference)) == int(np.argmax(lame_logits)) or diff < 0.5
    finally:
        decoder.backend.release(fresh)


def test_shared_prefix_without_copy_is_the_same(decoder, humaneval_records):
    rec = humaneval_records[1]
    lame = lame_of(rec["prompt"])
    cfg = GenerationConfig(max_new_tokens=24, stop=STOPS)
    shared = decoder.generate(rec["prompt"], lame, make_rule("cd"), Sampler(), cfg)
    unshared = decoder.generate(
        rec["prompt"], lame, make_rule("cd"), Sampler(), GenerationConfig(24, STOPS, share_prefix=False)
    )
    assert shared.shared_prefix_tokens > 0 and unshared.shared_prefix_tokens == 0
    assert unshared.lame_tokens_evaluated > shared.lame_tokens_evaluated
    n = min(len(shared.tokens), len(unshared.tokens), 8)
    assert shared.tokens[:n] == unshared.tokens[:n]


def test_batched_seq_cp_prefix_matches_a_fresh_prefill(decoder, humaneval_records):
    """In one multi-sequence context the lame prefix is shared with llama_memory_seq_cp."""
    backend = decoder.backend
    bd = BatchedDecoder(backend, 2, prefetch_lame=False)
    recs = humaneval_records[:2]
    firsts: dict[int, tuple[int, np.ndarray]] = {}

    def hook(index, i, view, lame_logits, step, token):
        if lame_logits is not None and index not in firsts:
            firsts[index] = (i, lame_logits.copy())

    cfg = GenerationConfig(max_new_tokens=16, stop=STOPS)
    requests = [Request(r["prompt"], lame_of(r["prompt"]), make_rule("cd"), Sampler(), cfg) for r in recs]
    fresh = backend.sequence()
    try:
        got = dict(bd.generate_many(requests, hook=hook))
        for index, rec in enumerate(recs):
            gen = got[index]
            assert gen.shared_prefix_tokens > 0
            i, lame_logits = firsts[index]
            fresh.reset()
            reference = fresh.extend(backend.tokenize(requests[index].aux_prompt("lame")) + gen.tokens[:i])
            diff = float(np.abs(reference - lame_logits).max())
            assert diff <= LOGIT_TOLERANCE, f"{rec['task_id']}: batched lame logits differ by {diff:.3f}"
    finally:
        backend.release(fresh)
        bd.close()


def test_multi_sequence_decode_splits_items_across_batches(model_path, humaneval_records):
    """Items longer than n_batch, straddling two llama_decode calls, still get their rows."""
    from uscd.engine.backends.llama_cpp import LlamaCppBackend

    with LlamaCppBackend(model_path, n_ctx=1024, n_batch=32) as backend:
        a = backend.tokenize(humaneval_records[0]["prompt"])[:45]
        b = backend.tokenize(humaneval_records[1]["prompt"])[:30]
        ctx = backend.multi_sequence(4, 512)
        rows = [r.copy() if r is not None else None for r in ctx.decode([(0, a, True), (2, b, True)])]
        assert rows[0] is not None and rows[1] is not None
        assert ctx.tokens[0] == a and ctx.tokens[2] == b
        single = backend.sequence()
        for tokens, row in ((a, rows[0]), (b, rows[1])):
            single.reset()
            diff = float(np.abs(single.extend(tokens) - row).max())
            assert diff <= LOGIT_TOLERANCE
