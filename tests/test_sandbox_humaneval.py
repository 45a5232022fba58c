"""The 164 canonical HumanEval solutions must all pass, at every level this machine offers."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from test_sandbox_support import level_param
from uscd.execution import run_many

pytestmark = pytest.mark.timeout(300)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"


def humaneval_programs() -> list[tuple[str, str]]:
    candidates = [DATA, Path("/work/shared/data/humaneval/HumanEval.jsonl.gz")]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        pytest.skip("HumanEval data not found (shared/data/humaneval/HumanEval.jsonl.gz)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [
        (
            r["task_id"],
            r["prompt"] + r["canonical_solution"] + "\n" + r["test"] + f"\ncheck({r['entry_point']})\n",
        )
        for r in records
    ]


@pytest.fixture(params=["process", "namespace"])
def level(request) -> str:
    return level_param(request)


def test_canonical_solutions_all_pass(level):
    programs = humaneval_programs()
    started = time.perf_counter()
    results = dict(run_many(programs, level=level))
    elapsed = time.perf_counter() - started
    failed = {k: (r.status, r.reason) for k, r in results.items() if r.status != "pass"}
    passed = len(results) - len(failed)
    print(f"\nHumanEval canonical, level={level}: {passed}/{len(results)} in {elapsed:.2f}s")
    assert len(results) == 164
    assert failed == {}
