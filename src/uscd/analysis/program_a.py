"""A branch run's program A as a run folder of its own (`uscd analyze program-a RUN_DIR`).

The branch method starts every problem from program A, its base rule's output, and keeps A unless
a branch passes more of the prompt's examples. Scoring A itself pairs the search with exactly the
program it started from. A separate greedy run is not that pairing at `--batch` > 1: batch kernels
round with the batch's composition, so A and that run's program differ on some problems
(docs/branch.md). A's programs come from the run's traces (`search.a_completion`); no model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uscd.errors import UscdError
from uscd.runs import RunFolder, read_jsonl
from uscd.tasks import Problem

FOLDER = "program-a"
LABEL_SUFFIX = "program-a"


def program_a_dir(run_dir: Path) -> Path:
    return Path(run_dir) / FOLDER


def searches(run_dir: Path) -> dict[tuple[str, int], dict]:
    """Each sample's search record (its trace's `search`), by (task_id, sample_idx)."""
    path = Path(run_dir) / "traces.jsonl"
    if not path.exists():
        raise UscdError(f"{run_dir} has no traces.jsonl: program A is read from a branch run's traces")
    found = {
        (t["task_id"], int(t.get("sample_idx", 0))): t["search"]
        for t in read_jsonl(path)
        if isinstance(t.get("search"), dict) and "a_completion" in t["search"]
    }
    if not found:
        raise UscdError(f"{run_dir} is not a program search run (no trace records program A)")
    return found


def a_config(config: dict, run_dir: Path) -> dict[str, Any]:
    """The branch run's config, relabelled: the same task, prompts, model and sandbox."""
    method = dict(config.get("method") or {})
    method["label"] = f"{method.get('label', 'branch')}-{LABEL_SUFFIX}"
    derived = {"from": str(run_dir), "programs": "each search's program A (traces: search.a_completion)"}
    return {**config, "method": method, "derived": derived}


def a_sample(sample: dict, search: dict, problem: Problem) -> dict[str, Any]:
    """The sample record of program A; its generation stats are the search's (A has none alone)."""
    completion = search["a_completion"]
    kept = completion == sample.get("completion")
    # A's own finish reason is not traced; the search's when it kept A
    finish = (sample.get("finish_reason") or "?") if kept else "?"
    return {
        "task_id": sample["task_id"],
        "sample_idx": int(sample.get("sample_idx", 0)),
        "completion": completion,
        "solution": problem.solution(completion),
        "finish_reason": finish,
        "seed": sample.get("seed"),
        "stats": {},
        "kept_by_search": kept,
    }


def write_program_a(run_dir: Path, problems: dict[str, Problem]) -> RunFolder:
    """Create (or resume) RUN_DIR/program-a with one sample per searched sample of the run."""
    source = RunFolder(run_dir)
    config = source.read_config()
    by_key = searches(run_dir)
    folder = RunFolder(program_a_dir(run_dir))
    folder.open(a_config(config, Path(run_dir)))
    written = {(s["task_id"], int(s["sample_idx"])) for s in folder.samples()}
    try:
        for sample in source.samples():
            k = (sample["task_id"], int(sample.get("sample_idx", 0)))
            if k in by_key and k not in written and sample["task_id"] in problems:
                folder.append("samples.jsonl", a_sample(sample, by_key[k], problems[sample["task_id"]]))
    finally:
        folder.close()
    return folder


def paired_with_a(run_dir: Path) -> dict[str, Any]:
    """The search against its own program A, on the problems both have a result for (full tests)."""
    from uscd.run.heldout import outcomes, paired

    p = paired(program_a_dir(run_dir), Path(run_dir), results="results.jsonl")
    if not p["problems"]:
        raise UscdError(f"{run_dir} and its {FOLDER} have no scored sample in common")
    a, searched = outcomes(program_a_dir(run_dir), "results.jsonl"), outcomes(Path(run_dir), "results.jsonl")
    common = set(a) & set(searched)
    return {
        "samples": p["problems"],
        "a_passed": sum(a[t] for t in common),
        "search_passed": sum(searched[t] for t in common),
        "fixed": p["fail_to_pass"],
        "broken": p["pass_to_fail"],
        "p_value": p["p_value"],
    }
