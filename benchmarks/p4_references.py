"""P4: sandboxed execution of the 164 canonical HumanEval solutions, wall time (target <= 15 s).

Runs ``uscd.run.references.check_references`` (``uscd eval --check-references``): every reference must pass.
No model is loaded.

    python benchmarks/p4_references.py [--level auto|process|namespace] [--workers N]
"""

from __future__ import annotations

import argparse

from _common import Timer, emit, table

TARGET_S = 15.0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", default="auto")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)

    from uscd.run.evaluate import Sandbox
    from uscd.run.references import check_references
    from uscd.tasks import get_task

    with Timer() as t:
        sandbox = Sandbox(level=args.level, workers=args.workers)
        report = check_references(get_task("humaneval"), sandbox, limit=args.limit)
    print("P4: HumanEval canonical solutions in the sandbox")
    print(
        table(
            ["problems", "passed", "level", "wall s", "target s"],
            [[report["problems"], report["passed"], report["level"], t.s, TARGET_S]],
        )
    )
    if report["failures"]:
        print("failures:", report["failures"])
    return emit(
        "P4",
        t.s,
        f"<= {TARGET_S:g} s",
        t.s <= TARGET_S and report["passed"] == report["problems"],
        problems=report["problems"],
        passed=report["passed"],
        level=report["level"],
    )


if __name__ == "__main__":
    main()
