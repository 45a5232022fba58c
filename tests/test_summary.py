"""Run summaries: pass@k from result records, duplicates never counted twice."""

from __future__ import annotations

import pytest

from uscd.summary import covered_seconds, generation_stats, per_problem_counts, summarize


def res(task, idx, status):
    return {"task_id": task, "sample_idx": idx, "status": status, "level": "process"}


def test_counts_and_pass_at_k():
    results = [res("a", i, "pass" if i < 3 else "fail") for i in range(10)]
    results += [res("b", i, "fail") for i in range(10)]
    s = summarize({"task": {"name": "t"}, "method": {"label": "m"}}, [], results)
    assert per_problem_counts(results) == {"a": (10, 3), "b": (10, 0)}
    assert s["pass@1"] == pytest.approx(0.15)
    assert s["pass@10"] == pytest.approx(0.5)
    assert "pass@100" not in s
    assert s["statuses"] == {"pass": 3, "fail": 17}


def test_a_duplicated_record_counts_once():
    results = [res("a", 0, "pass"), res("b", 0, "fail"), res("a", 0, "fail")]
    assert per_problem_counts(results) == {"a": (1, 1), "b": (1, 0)}
    s = summarize({}, [{"task_id": "a", "sample_idx": 0, "stats": {}}] * 2, results)
    assert s["samples_executed"] == 2 and s["generation"]["samples"] == 1 and s["pass@1"] == 0.5


@pytest.mark.parametrize(
    ("intervals", "seconds"),
    [
        ([], 0.0),
        ([(1.0, 3.0)], 2.0),
        ([(1.0, 3.0), (2.0, 5.0)], 4.0),  # overlapping: counted once
        ([(10.0, 12.0), (1.0, 3.0)], 4.0),  # a gap (between resumed chunks): not counted
        ([(1.0, 10.0), (2.0, 3.0), (4.0, 5.0)], 9.0),  # nested
        ([(1.0, 2.0), (2.0, 4.0), (6.0, 7.0), (3.0, 6.5)], 6.0),  # touching, bridged
    ],
)
def test_covered_seconds_is_the_length_of_the_union(intervals, seconds):
    assert covered_seconds(intervals) == pytest.approx(seconds)


def sample(tokens, decode_s, span=None):
    stats = {"new_tokens": tokens, "decode_s": decode_s}
    if span:
        stats["started_at"], stats["finished_at"] = span
    return {"task_id": "t", "sample_idx": 0, "finish_reason": "eos", "stats": stats}


def test_wall_throughput_counts_a_batch_s_overlapping_sequences_once():
    # three sequences decoded side by side for 10 s, then one more after a 100 s pause (a resume)
    batch = [sample(50, 10.0, (1000.0, 1010.0)) for _ in range(3)] + [sample(50, 10.0, (1110.0, 1120.0))]
    gen = generation_stats([*batch, {"task_id": "e", "sample_idx": 0, "finish_reason": "error", "stats": {}}])
    assert gen["tokens_per_s"] == 5.0  # per sequence
    assert (gen["wall_s"], gen["tokens_per_s_wall"]) == (20.0, 10.0)


@pytest.mark.parametrize("spans", [[None, None], [(1.0, 2.0), None], []])
def test_wall_throughput_is_none_without_every_timestamp(spans):
    gen = generation_stats([sample(10, 1.0, span) for span in spans])
    assert gen["wall_s"] is None and gen["tokens_per_s_wall"] is None
