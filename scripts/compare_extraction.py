"""Parity check: uscd's chat-reply extraction against evalplus's own `sanitize`, on a chat run.

    python scripts/compare_extraction.py RUN_FOLDER --evalplus-python /path/to/venv/bin/python

evalplus (>= 0.3) must be importable by that interpreter (it brings tree-sitter, openai, ...; that is
why uscd does not depend on it). For every sample of the run, evalplus's `sanitize` gets what
evalplus's codegen would give it (the model's output after the opened fence), both programs run in
the uscd sandbox against the same tests, and the verdicts are compared. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from uscd.execution import Limits, run_many
from uscd.prompts.chat import as_chat, reply_prefix
from uscd.runs import RunFolder
from uscd.tasks import get_task

EVALPLUS_SANITIZE = """
import json, sys
from evalplus.sanitize import sanitize
for line in sys.stdin:
    item = json.loads(line)
    print(json.dumps(sanitize(item["code"], item["entry_point"])))
"""


def evalplus_solutions(python: str, items: list[dict]) -> list[str]:
    feed = "".join(json.dumps(i) + "\n" for i in items)
    out = subprocess.run(
        [python, "-c", EVALPLUS_SANITIZE], input=feed, capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--evalplus-python", required=True)
    args = parser.parse_args()
    folder = RunFolder(args.folder)
    config = folder.read_config()
    options = {k: v for k, v in config["task"]["options"].items() if v is not None}
    if "data" in options:
        options["data"] = config["dataset_location"]
    task = get_task(config["task"]["name"], **options)
    problems = {p.task_id: as_chat(p, reply_prefix(p.language)) for p in task.problems()}
    samples = [s for s in folder.samples() if s["task_id"] in problems]
    theirs = evalplus_solutions(
        args.evalplus_python,
        [{"code": s["completion"], "entry_point": problems[s["task_id"]].entry_point} for s in samples],
    )
    programs = []
    for s, their in zip(samples, theirs, strict=True):
        p = problems[s["task_id"]]
        programs.append(((s["task_id"], "uscd"), p.program(s["completion"])))
        programs.append(((s["task_id"], "evalplus"), their + p.program_tail))
    verdicts = {key: res.passed for key, res in run_many(programs, limits=Limits(wall_s=10.0, cpu_s=10))}
    ours = {t for (t, who), ok in verdicts.items() if ok and who == "uscd"}
    their_pass = {t for (t, who), ok in verdicts.items() if ok and who == "evalplus"}
    different_code = sorted(
        s["task_id"]
        for s, t in zip(samples, theirs, strict=True)
        if problems[s["task_id"]].code(s["completion"]).strip() != t.strip()
    )
    report = {
        "run": str(args.folder),
        "samples": len(samples),
        "same_code": len(samples) - len(different_code),
        "different_code": different_code,
        "passed_uscd": len(ours),
        "passed_evalplus": len(their_pass),
        "only_uscd": sorted(ours - their_pass),
        "only_evalplus": sorted(their_pass - ours),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
