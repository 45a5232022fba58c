#!/usr/bin/env python
"""Parity: MultiPL-E's own evaluator rules vs uscd's verdicts, per problem, on the same programs.

MultiPL-E's containerless evaluators (nuprl/MultiPL-E evaluation/src/eval_<lang>.py) are restated
here from their command lines and status rules (not copied): the same compiler/interpreter argv,
their timeouts, their OK / Exception / SyntaxError / Timeout classes. Their commands run INSIDE the
uscd sandbox (same isolation and memory limits, no proof-of-completion epilogue, exit status as they
read it). uscd's verdicts come from `uscd evaluate RUN_DIR` (results.jsonl of the run folder).

    python scripts/multipl_e_parity.py results/qwen2.5-coder-0.5b/multipl-e-cpp/greedy --out parity.json

Where Debian 12 lacks their tool, the nearest equivalent runs and is named: D uses `ldc2 -unittest`
+ run (no rdmd), C# uses mcs (no csc).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from uscd.execution import Limits, run_many
from uscd.execution import languages as langs
from uscd.execution.languages import java
from uscd.run.records import key
from uscd.runs import RunFolder
from uscd.tasks import get_task

# language -> (file, compile argv or None, run argv, run timeout s, compile timeout s), as in eval_<lang>.py
COMMANDS: dict[str, tuple[str, tuple[str, ...] | None, tuple[str, ...], float, float]] = {
    "cpp": ("main.cpp", ("g++", "main.cpp", "-o", "main", "-std=c++17"), ("./main",), 15, 15),
    "rs": ("main.rs", ("rustc", "main.rs", "-o", "main"), ("./main",), 5, 15),
    "go": ("main_test.go", None, ("go", "test", "main_test.go"), 30, 30),
    "java": (
        "Main.java",
        ("javac", "-encoding", "UTF8", "-d", ".", "Main.java"),
        ("java", "-ea", "-cp", f".:{java.JAVATUPLES}", "Problem"),
        15,
        15,
    ),
    "js": ("main.js", None, ("node", "main.js"), 5, 5),
    "ts": ("main.ts", ("tsc", "--target", "esnext", "main.ts"), ("node", "main.js"), 15, 15),
    "lua": ("main.lua", None, ("lua", "main.lua"), 15, 15),
    "php": ("main.php", None, ("php", "main.php"), 15, 15),
    "pl": ("main.pl", None, ("perl", "main.pl"), 15, 15),
    "r": ("main.r", None, ("Rscript", "main.r"), 5, 5),
    "rb": ("main.rb", None, ("ruby", "main.rb"), 5, 5),
    "sh": ("main.sh", None, ("bash", "main.sh"), 15, 15),
    "cs": (
        "main.cs",
        ("mcs", "-d:DEBUG", "-r:System.Numerics.dll", "main.cs", "-out:main.exe"),
        ("mono", "main.exe"),
        5,
        15,
    ),
    "d": ("main.d", ("ldc2", "-unittest", "main.d", "-of=main"), ("./main",), 15, 15),
    "rkt": ("main.rkt", None, ("racket", "main.rkt"), 15, 15),
    "scala": ("main.scala", ("scalac", "-d", ".", "main.scala"), ("scala", "-cp", ".", "Problem"), 15, 45),
}


def _status_exit_code(r) -> str:
    return "OK" if r.exit_code == 0 else "Exception"


def _status_go(r) -> str:
    out = r.stdout_tail
    if "[setup failed]" in out or "[build failed]" in out:
        return "SyntaxError"
    return "Exception" if "FAIL" in out else "OK"


def _status_php(r) -> str:
    if "PHP Parse error" in r.stdout_tail:
        return "SyntaxError"
    return _status_exit_code(r)


def _status_pl(r) -> str:
    if r.exit_code != 0 or "ERROR" in r.stdout_tail or "ERROR" in r.stderr_tail:
        return "Exception"
    return "OK"


def _status_rb(r) -> str:
    if r.exit_code == 0:
        return "OK"
    return "SyntaxError" if r.stderr_tail else "Exception"


def _status_rkt(r) -> str:
    if r.stderr_tail or r.exit_code != 0:
        return "SyntaxError" if "read-syntax" in r.stderr_tail else "Exception"
    return "OK"


def _status_scala(r) -> str:
    return "OK" if r.exit_code == 0 and not r.stderr_tail else "Exception"


def _status_cs(r) -> str:
    markers = ("System.Diagnostics.DefaultTraceListener.Fail", "Unhandled Exception")
    failed = any(marker in r.stderr_tail for marker in markers)
    return "Exception" if failed else "OK"  # their rule: mono's exit status is not read


def _status_d(r) -> str:
    if r.exit_code == 0:
        return "OK"
    return "SyntaxError" if "Error:" in r.stderr_tail else "Exception"


RULES: dict[str, Callable] = {"go": _status_go, "php": _status_php, "pl": _status_pl, "rb": _status_rb}
RULES |= {"rkt": _status_rkt, "scala": _status_scala, "cs": _status_cs, "d": _status_d}


def their_spec(language: str) -> langs.Language:
    """Our language spec with MultiPL-E's exact commands: no epilogue, no proof, no output rule."""
    file, compile_argv, run_argv, _, compile_s = COMMANDS[language]
    ours = langs.require(language)
    return dataclasses.replace(
        ours,
        source=file,
        epilogue=None,
        compile=compile_argv,
        run=run_argv,
        compile_extra=None,
        workdir_seed=None,
        output_failure=None,
        compile_s=compile_s,
        proof=False,
    )


def their_status(language: str, result) -> str:
    if result.status == "timeout":
        return "Timeout"
    if result.phase == "compile":
        return "SyntaxError"
    if result.status == "error":
        return "HarnessError"
    return RULES.get(language, _status_exit_code)(result)


def run_theirs(language: str, programs: dict, workers: int | None) -> dict:
    run_s = COMMANDS[language][3]
    limits = Limits(wall_s=run_s, cpu_s=int(run_s))
    done = run_many(programs.items(), workers=workers, limits=limits, language=their_spec(language))
    return {tid: (their_status(language, r), r.reason) for tid, r in done}


def explain(theirs: str, ours: dict) -> str:
    if theirs == "OK" and "no proof of completion" in ours.get("reason", ""):
        return "early exit: ours demands the proof of completion (their rule sees exit status 0)"
    if "timeout" in (theirs.lower(), ours["status"]):
        return "time limit: theirs vs ours differ (a program near the limit)"
    return "unexplained"


def compare(run_dir: Path, workers: int | None) -> dict:
    folder = RunFolder(run_dir)
    config = folder.read_config()
    task = get_task(config["task"]["name"], **{k: v for k, v in config["task"]["options"].items() if v})
    language = task.lang_key
    by_id = {p.task_id: p for p in task.problems()}
    samples = {key(s): s for s in folder.samples()}
    ours = {key(r): r for r in folder.results()}
    if set(ours) != set(samples):
        sys.exit(f"{run_dir}: run `uscd evaluate {run_dir}` first ({len(ours)}/{len(samples)} executed)")
    programs = {k: by_id[k[0]].program(s["completion"]) for k, s in samples.items()}
    theirs = run_theirs(language, programs, workers)
    rows, differences = [], []
    for k in sorted(programs):
        status, _reason = theirs[k]
        agree = (status == "OK") == (ours[k]["status"] == "pass")
        row = {"task_id": k[0], "sample_idx": k[1], "theirs": status, "ours": ours[k]["status"]}
        row["ours_reason"] = ours[k]["reason"]
        rows.append(row)
        if not agree:
            differences.append(row | {"why": explain(status, ours[k])})
    return {
        "language": language,
        "programs": len(rows),
        "theirs_ok": sum(r["theirs"] == "OK" for r in rows),
        "ours_pass": sum(r["ours"] == "pass" for r in rows),
        "identical": len(rows) - len(differences),
        "differences": differences,
        "explained": dict(Counter(d["why"] for d in differences)),
        "their_statuses": dict(Counter(r["theirs"] for r in rows)),
        "rows": rows,
    }


CASE_KINDS = ("good", "wrong", "exit0", "broken")


def case_folders(root: Path, languages: list[str]) -> list[Path]:
    """Run folders of the hand-written HumanEval_53_add completions (tests/multipl_e_cases.py), executed
    by uscd: every language, including those without model samples."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from multipl_e_cases import CASES, PROBLEM
    from uscd.runner import evaluate_folder

    folders = []
    for language in languages:
        task = get_task(f"multipl-e-{language}")
        folder = RunFolder(root / language / "cases")
        config = {"task": task.config(), "method": {"label": "cases", "rule": "hand-written"}}
        folder.open(config | {"sandbox_limits": {"timeout_s": 10.0}})
        done = {key(s) for s in folder.samples()}
        for index, kind in enumerate(k for k in CASE_KINDS if k in CASES[language]):
            if (PROBLEM, index) not in done:
                sample = {
                    "task_id": PROBLEM,
                    "sample_idx": index,
                    "completion": CASES[language][kind],
                    "kind": kind,
                }
                folder.append("samples.jsonl", sample)
        folder.close()
        evaluate_folder(RunFolder(folder.path), progress=False)
        folders.append(folder.path)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="*", type=Path, help="run folders (OUT/<method>) already evaluated")
    parser.add_argument(
        "--cases", type=Path, help="also build + evaluate the hand-written cases under this folder"
    )
    parser.add_argument("--languages", default=",".join(COMMANDS), help="for --cases")
    parser.add_argument("--out", type=Path, help="write the full comparison (JSON)")
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    run_dirs = list(args.run_dirs)
    if args.cases:
        run_dirs += case_folders(args.cases, args.languages.split(","))
    reports = [compare(d, args.workers) for d in run_dirs]
    for rep in reports:
        print(
            f"{rep['language']:6} programs {rep['programs']}  theirs OK {rep['theirs_ok']}  ours pass "
            f"{rep['ours_pass']}  identical {rep['identical']}  differences {len(rep['differences'])} "
            f"{rep['explained']}"
        )
        for d in rep["differences"]:
            reason = d["ours_reason"][:90]
            print(f"    {d['task_id']}: theirs {d['theirs']}, ours {d['ours']} ({reason}) - {d['why']}")
    if args.out:
        args.out.write_text(json.dumps(reports, indent=1) + "\n")
    return 0 if all(d["why"] != "unexplained" for r in reports for d in r["differences"]) else 1


if __name__ == "__main__":
    sys.exit(main())
