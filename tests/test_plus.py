"""HumanEval+ / MBPP+: evalplus's comparison semantics, base and plus suites, the snapshot label."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from uscd.errors import UscdError
from uscd.run.evaluate import Sandbox, judge
from uscd.tasks import _plus_harness as harness
from uscd.tasks import get_task
from uscd.tasks.mbppplus import is_snapshot_layout

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs the shared/ data folder")


# ------------------------------------------------------------------------------- comparison


def passes(out, exp, atol=0, entry="f", dataset="humaneval", inp=()):
    try:
        harness.compare(dataset, entry, list(inp), out, exp, atol)
    except AssertionError:
        return False
    return True


def test_a_float_output_gets_atol_1e6_when_the_task_has_none():
    assert passes(1.0 + 1e-7, 1.0)
    assert not passes(1.0 + 1e-4, 1.0)
    assert passes(1.0 + 1e-4, 1.0, atol=1e-3)
    assert passes([1.0, 2.0 + 1e-7], [1.0, 2.0])


def test_close_is_not_enough_when_types_or_lengths_differ():
    assert not passes((1.0, 2.0), [1.0, 2.0], atol=1e-3)  # tuple vs list
    assert not passes([1.0], [1.0, 2.0], atol=1e-3)
    assert not passes(1, 1.5)


def test_integers_compare_exactly_until_a_float_was_expected():
    """evalplus keeps the changed atol for later inputs of the same suite: reproduced on purpose."""
    assert not passes([1, 2 + 1e-9], [1, 2])  # nothing float expected yet: exact
    atol = harness.compare("humaneval", "f", [], 0.5, 0.5, 0)
    assert atol == 1e-6
    harness.compare("humaneval", "f", [], [1, 2 + 1e-9], [1, 2], atol)  # now close is enough


def test_find_zero_is_judged_by_the_polynomial_not_by_the_reference_root():
    xs = [-6, 11, -6, 1]  # roots 1, 2, 3
    assert passes(3.0, 1.0, atol=1e-4, entry="find_zero", inp=[xs])
    assert not passes(2.5, 2.0, atol=1e-4, entry="find_zero", inp=[xs])


def test_mbpp_special_oracles():
    assert passes((5, 4), (4, 5), dataset="mbpp", entry="similar_elements")
    assert not passes((5,), (4, 5), dataset="mbpp", entry="similar_elements")
    assert passes("a match", True, dataset="mbpp", entry="text_match_three")
    assert not passes(None, True, dataset="mbpp", entry="text_match_three")
    assert passes(123, 7, dataset="mbpp", entry="are_equivalent")
    assert passes(0, 9, dataset="mbpp", entry="sum_div")


def test_mbpp_inputs_get_their_python_types_back():
    assert harness.deserialize("mbpp", "Mbpp/2", [[[1, 2], [3]]]) == [[(1, 2), (3,)]]
    assert harness.deserialize("mbpp", "Mbpp/124", [[1, 2]]) == [(1.0, complex(2))]
    assert harness.deserialize("mbpp", "Mbpp/580", [[[1, [2, 3]], 4]]) == [((1, (2, 3)), 4)]
    assert harness.deserialize("mbpp", "Mbpp/3", [[[1, 2]]]) == [[[1, 2]]]  # untouched
    assert harness.deserialize("humaneval", "HumanEval/2", [[[1, 2]]]) == [[[1, 2]]]


# ------------------------------------------------------------------------------- suites in the sandbox


def write_plus_data(path: Path, records: list[dict]) -> str:
    with gzip.open(path, "wt") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    return str(path)


def plus_record(task_id="HumanEval/0", **over) -> dict:
    rec = {
        "task_id": task_id,
        "prompt": "def double(x):\n",
        "entry_point": "double",
        "canonical_solution": "    return 2 * x\n",
        "base_input": [[1], [2]],
        "plus_input": [[0], [-3], [10**6]],
        "atol": 0,
        "contract": "",
        "test": "",
    }
    return {**rec, **over}


@pytest.fixture
def tiny_plus(tmp_path):
    return get_task("humanevalplus", data=write_plus_data(tmp_path / "he.jsonl.gz", [plus_record()]))


def verdict(task, completion: str) -> dict:
    problem = task.problem("HumanEval/0")
    return judge(problem, problem.prompt + completion, 10.0, "auto")


def test_a_solution_that_only_passes_the_base_inputs_fails_plus(tiny_plus):
    good = verdict(tiny_plus, "    return x + x\n")
    assert good["status"] == "pass" and good["base_passed"] and good["plus_passed"]
    only_positive = verdict(tiny_plus, "    return 2 * abs(x)\n")
    assert only_positive["base_passed"] and not only_positive["plus_passed"]
    assert only_positive["status"] == "fail" and only_positive["reason"].startswith("plus: ")
    wrong = verdict(tiny_plus, "    return x\n")
    assert not wrong["base_passed"] and not wrong["plus_passed"]


def test_the_solution_runs_in_a_namespace_of_its_own_like_evalplus(tiny_plus):
    # output is swallowed, and a main block does not run (it would wait for stdin)
    chatty = "    print('x' * 100000)\n    return 2 * x\n\nif __name__ == '__main__':\n    input()\n"
    assert verdict(tiny_plus, chatty)["status"] == "pass"
    # the harness's own imports are not the solution's: a missing import fails
    assert verdict(tiny_plus, "    return int(math.floor(2 * x))\n")["status"] == "fail"
    assert verdict(tiny_plus, "    raise SystemExit(0)\n")["status"] == "fail"


def test_per_input_time_limit_and_the_suite_budget(tiny_plus):
    slow = verdict(tiny_plus, "    import time\n    time.sleep(3 if x == 2 else 0)\n    return 2 * x\n")
    assert slow["base_status"] == "fail" and "time limit" in slow["reason"]
    hang = verdict(tiny_plus, "    return 2 * x\n\nwhile True:\n    pass\n")
    assert hang["base_status"] == "timeout" and hang["status"] == "timeout"


@needs_shared
def test_the_snapshot_is_labelled_as_such_and_a_release_file_is_not(tmp_path):
    snapshot = get_task("mbppplus")
    assert snapshot.name == "mbppplus-snapshot" and len(snapshot.problems()) == 399
    assert snapshot.config()["name"] == "mbppplus-snapshot"
    p = snapshot.problem("2")
    assert p.task_id == "Mbpp/2" and p.prompt.startswith('"""\n') and "\nassert " in p.prompt
    assert p.lame_prompt and "assert" not in p.lame_prompt
    with gzip.open(SHARED / "mbppplus" / "MbppPlus.jsonl.gz", "rt") as fh:
        records = [json.loads(x) for x in fh][:3]
    release = [{**r, "prompt": get_task("mbppplus").problem(r["task_id"]).prompt} for r in records]
    assert not is_snapshot_layout(release, "0" * 64)
    task = get_task("mbppplus", data=write_plus_data(tmp_path / "MbppPlus.jsonl.gz", release))
    assert task.name == "mbppplus" and task.problem("Mbpp/2").prompt == release[0]["prompt"]


def test_a_record_without_inputs_is_refused(tmp_path):
    data = write_plus_data(tmp_path / "x.jsonl.gz", [{k: v for k, v in plus_record().items() if k != "atol"}])
    with pytest.raises(UscdError, match="atol"):
        get_task("humanevalplus", data=data).problems()


@needs_shared
@pytest.mark.parametrize(
    ("task", "some"), [("humanevalplus", ("32", "95", "115")), ("mbppplus", ("2", "124", "580"))]
)
def test_references_pass_both_suites(task, some):
    t = get_task(task)
    for task_id in some:
        p = t.problem(task_id)
        fields = judge(p, p.prompt + (p.reference or ""), 10.0, "auto")
        assert fields["status"] == "pass", (task_id, fields["reason"])


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize("task", ["humanevalplus", "mbppplus"])
def test_every_reference_passes(task):
    from uscd.run.references import check_references

    report = check_references(get_task(task), Sandbox())
    assert report["failures"] == {} and report["passed"] == report["problems"]
