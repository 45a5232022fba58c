"""The branch method on the embedded model (marked `model`: run serially, under the model lock).

A branch continues from a copy of the standard sequence's cache; every row it decides on must
equal a fresh prefill of the same tokens within llama.cpp's batch-split noise (docs/engine.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.test_batched_model import STOPS, assert_matches_fresh

from uscd.engine import GenerationConfig, Request
from uscd.methods import BranchSearch, Sampler
from uscd.search.branch import PointRecorder, branch_generate, most_uncertain

pytestmark = pytest.mark.model


def test_branch_rows_match_a_fresh_prefill_of_the_forced_prefix(decoder, humaneval_records):
    backend, fresh = decoder.backend, decoder.backend.sequence()
    rule = BranchSearch()
    prompt = humaneval_records[0]["prompt"]
    cfg = GenerationConfig(max_new_tokens=48, stop=STOPS)
    recorder = PointRecorder(rule.measure, rule.alpha, rule.m)
    base = decoder.generate(prompt, None, rule, Sampler(), cfg, hook=recorder)
    points = most_uncertain(recorder.points, rule.measure, rule.k)
    assert points, "no uncertain step with a second head token in 48 tokens"
    rows: list[tuple[list[int], np.ndarray]] = []

    def hook(index, view, aux, step, token):
        rows.append((list(decoder._scratch.tokens), np.array(view.logits)))

    try:
        for point in points:
            token = point.alternatives[0]
            rows.clear()
            request = Request(prompt, None, rule, Sampler(), cfg)
            branch = decoder.branch(request, base, point.step, token, hook=hook)
            assert branch.tokens[: point.step + 1] == [*base.tokens[: point.step], token]
            assert rows or len(branch.tokens) == point.step + 1
            for held, row in rows[:4]:
                assert_matches_fresh(backend, fresh, held, row, f"branch at step {point.step}")
    finally:
        backend.release(fresh)


def test_branch_method_on_a_humaneval_prompt(decoder, humaneval_records):
    """The whole search on the model: a record for every branch, the kept program among them."""
    prompt = humaneval_records[2]["prompt"]
    request = Request(prompt, None, BranchSearch(max_branches=2), Sampler(), GenerationConfig(96, STOPS))
    gen = branch_generate(decoder, request)
    record = gen.search
    assert record["checks"] >= 1 and record["executions"] == 1 + record["branches_tried"]
    assert record["outcome"] in ("a-passed", "branch-passed", "best-branch", "a-kept")
    if record["chosen"] >= 0:
        assert gen.completion != record["a_completion"]


def test_the_search_on_a_serve_loop_on_a_humaneval_prompt(decoder, humaneval_records):
    """The search through a running serve loop (FeedDecoder, as `uscd serve` runs it): a whole record,
    every branch a continuation request decoded on from A's prefix and its forced token (batched
    kernels round differently, so nothing here is compared with the single stream's tokens)."""
    import threading

    from uscd.engine import BatchedDecoder, RequestFeed
    from uscd.search.decoders import FeedDecoder

    prompt = humaneval_records[2]["prompt"]
    request = Request(prompt, None, BranchSearch(max_branches=2), Sampler(), GenerationConfig(96, STOPS))
    loop, feed = BatchedDecoder(decoder.backend, 2), RequestFeed()
    thread = threading.Thread(target=loop.serve, args=(feed,), kwargs={"idle_s": 0.05})
    thread.start()
    try:
        fd = FeedDecoder(feed, decoder.backend.piece)
        gen = branch_generate(fd, request)
    finally:
        feed.close()
        thread.join(60)
        loop.close()
    record = gen.search
    assert record["checks"] >= 1 and record["a_completion"].strip()
    assert record["executions"] == 1 + record["branches_tried"]
    assert record["outcome"] in ("a-passed", "branch-passed", "best-branch", "a-kept")
    for branch in record["branches"]:
        assert branch["tokens"] >= 1  # the forced token at least (an end-of-text token has no text)
    if record["chosen"] >= 0:
        assert gen.completion != record["a_completion"]
    assert loop.in_flight() == 0
