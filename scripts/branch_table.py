"""The branch method's evidence table (docs/branch.md) from three scored run folders.

    python scripts/branch_table.py GREEDY BRANCH FILTER

Each folder: a run folder with results.jsonl and summary.json, scored on the held-out tests
(scripts/heldout_eval.py score: heldout_results.jsonl). Prints pass@1 on the full and held-out tests
(Wilson 95 % CIs, as `uscd report`), the paired exact McNemar tests of branch against greedy and against
filter on both, the search's cost (summary `generation.search`), how often branch's program A equals
GREEDY's completion, and at which step the fixing branches changed a token. When BRANCH/program-a is
scored (`uscd analyze program-a BRANCH`, held-out by heldout_eval.py), also branch against its own
program A: the pairing that batch composition cannot blur. An MBPP+/HumanEval+ run has no held-out
file: its held-out column is evalplus's plus suite alone (inputs no prompt shows).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from uscd.metrics import mcnemar_exact, wilson_interval


def outcomes(folder: Path, name: str) -> dict[str, bool]:
    """First-sample pass/fail from `name`; held-out of an evalplus run (MBPP+, HumanEval+) without a
    held-out file: its plus suite alone (evalplus's extra inputs, which no prompt shows)."""
    plus_only = name == "heldout_results.jsonl" and not (folder / name).exists()
    rows = [
        json.loads(line)
        for line in (folder / ("results.jsonl" if plus_only else name)).read_text().splitlines()
        if line.strip()
    ]
    key = "plus_status" if plus_only else "status"
    return {r["task_id"]: r.get(key) == "pass" for r in rows if int(r.get("sample_idx", 0)) == 0}


def samples(folder: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines() if line.strip()]
    return {r["task_id"]: r for r in rows if int(r["sample_idx"]) == 0}


def rate(passed: dict[str, bool]) -> str:
    k, n = sum(passed.values()), len(passed)
    ci = wilson_interval(k, n)
    return f"{100 * k / n:.1f} % ({k}/{n}) [{100 * ci.lo:.1f}, {100 * ci.hi:.1f}]"


def paired(base: dict[str, bool], cand: dict[str, bool]) -> str:
    common = sorted(set(base) & set(cand))
    test = mcnemar_exact([base[t] for t in common], [cand[t] for t in common])
    return f"{test.b} fixed / {test.c} broken (p = {test.p_value:.2g}, {len(common)} problems)"


def traces(folder: Path) -> list[dict]:
    path = folder / "traces.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fix_steps(greedy: dict[str, bool], branch: Path, passed: dict[str, bool]) -> Counter:
    """Step of the kept branch, for the problems branch fixes (greedy fails, branch passes)."""
    steps: Counter = Counter()
    for t in traces(branch):
        search = t.get("search") or {}
        chosen, tid = search.get("chosen", -1), t["task_id"]
        if chosen >= 0 and passed.get(tid) and not greedy.get(tid):
            steps[search["branches"][chosen]["step"]] += 1
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("greedy", type=Path)
    ap.add_argument("branch", type=Path)
    ap.add_argument("filter", type=Path)
    args = ap.parse_args()
    full = {k: outcomes(getattr(args, k), "results.jsonl") for k in ("greedy", "branch", "filter")}
    held = {k: outcomes(getattr(args, k), "heldout_results.jsonl") for k in ("greedy", "branch", "filter")}
    for k in full:
        print(f"{k:7s} full {rate(full[k])}   held-out {rate(held[k])}")
    for tests, table in (("full", full), ("held-out", held)):
        print(f"branch vs greedy, {tests}: {paired(table['greedy'], table['branch'])}")
        print(f"branch vs filter, {tests}: {paired(table['filter'], table['branch'])}")
        print(f"filter vs greedy, {tests}: {paired(table['greedy'], table['filter'])}")
    summaries = {k: json.loads((getattr(args, k) / "summary.json").read_text()) for k in full}
    for k in ("branch", "filter"):
        print(f"{k} search: {json.dumps(summaries[k]['generation'].get('search'))}")
    greedy_tokens = summaries["greedy"]["generation"]["new_tokens"]
    branch_tokens = summaries["branch"]["generation"]["search"]["tokens_decoded"]
    ratio = branch_tokens / greedy_tokens
    print(f"greedy new tokens {greedy_tokens}; branch decoded {branch_tokens} ({ratio:.2f}x)")
    base = samples(args.greedy)
    a_programs = {t["task_id"]: t["search"]["a_completion"] for t in traces(args.branch) if t.get("search")}
    same = sum(a_programs[t] == base[t]["completion"] for t in a_programs if t in base)
    print(f"A == greedy's completion on {same} of {len(a_programs)} problems")
    own_a = args.branch / "program-a"
    if (own_a / "results.jsonl").exists():
        for tests, name in (("full", "results.jsonl"), ("held-out", "heldout_results.jsonl")):
            if (own_a / name).exists() or not (args.branch / name).exists():  # plus-suite fallback
                a, searched = outcomes(own_a, name), outcomes(args.branch, name)
                print(f"program A {tests} {rate(a)}; branch vs its own A: {paired(a, searched)}")
    steps = fix_steps(full["greedy"], args.branch, full["branch"])
    print(f"fixing branches by step: {sorted(steps.items())}")


if __name__ == "__main__":
    main()
