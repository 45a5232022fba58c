"""Run summaries: pass@k from result records, duplicates never counted twice."""

from __future__ import annotations

import pytest

from uscd.summary import per_problem_counts, summarize


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
