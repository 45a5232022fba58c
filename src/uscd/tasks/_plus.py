"""Test suites for evalplus datasets (HumanEval+, MBPP+): base and plus inputs, judged the evalplus way.

Each suite is one sandboxed program: the harness in `_plus_harness.py` (evalplus's semantics, see
there), the solution as a string it executes in a fresh namespace, and the suite's inputs with the
reference solution that computes the expected outputs.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from uscd.tasks._common import Record, require
from uscd.tasks.base import TestSuite

FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input", "atol")
SUITES = (("base", "base_input"), ("plus", "plus_input"))
# the most one suite program should take: the reference's own run (which sets the time limits; up
# to 60 s is allowed for it) and then the solution's, which the harness stops after
# min(60 s, the per-input limits' sum) + 1 s. Only a solution that defeats the harness's alarm
# (catching the exception in a loop) meets this wall; under load the references slow down too.
SUITE_BUDGET_S = 60.0 + 61.0
MEMORY_MB = 4096  # evalplus's default limit (EVALPLUS_MAX_MEMORY_BYTES); MBPP+ references need it


@cache
def harness_source() -> str:
    return Path(__file__).with_name("_plus_harness.py").read_text(encoding="utf-8")


def check_record(rec: Record, source: str) -> None:
    require(rec, FIELDS, source)


def plus_suites(rec: Record, dataset: str) -> tuple[TestSuite, ...]:
    """The base and plus suites of one evalplus record; `dataset` is "humaneval" or "mbpp"."""
    prelude = harness_source() + "\n\ncheck(\n"
    suites = []
    for name, key in SUITES:
        spec = {
            "suite": name,
            "dataset": dataset,
            "task_id": str(rec["task_id"]),
            "entry_point": str(rec["entry_point"]),
            "atol": rec["atol"],
            # evalplus's ground truth: the dataset's own prompt + canonical solution
            "reference": str(rec["prompt"]) + str(rec["canonical_solution"]),
            "inputs": rec[key],
        }
        tail = ",\n" + repr(json.dumps(spec)) + ",\n)\n"
        suites.append(TestSuite(name, prelude, tail, SUITE_BUDGET_S, embed=True, memory_mb=MEMORY_MB))
    return tuple(suites)


def suite_meta(rec: Record) -> dict:
    return {
        "atol": rec["atol"],
        "base_inputs": len(rec["base_input"]),
        "plus_inputs": len(rec["plus_input"]),
    }
