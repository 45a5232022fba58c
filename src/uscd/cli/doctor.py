"""`uscd doctor`: can this machine execute each language? Toolchain, version, and a sandbox check.

Per language: the toolchain's commands and test libraries are found (else one line naming what to
install), its version, and two tiny programs run in the sandbox: one must pass, one that exits 0
before its tests ran must not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass

from uscd.errors import UscdError


@dataclass
class Checkup:
    language: str
    ok: bool
    version: str = ""
    sandbox: str = ""  # what the two sandbox runs showed
    problem: str = ""  # one line: what is wrong and what to do


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("doctor", help="check the toolchains and the sandbox for every language")
    p.add_argument("--languages", help="comma-separated (default: all executable MultiPL-E languages)")
    p.add_argument("--sandbox", default="auto", choices=("auto", "namespace", "process"))
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from uscd.execution import available_level
    from uscd.execution import languages as langs

    wanted = args.languages.split(",") if args.languages else list(langs.names())
    level = available_level(args.sandbox)
    results = [check_language(name.strip(), level) for name in wanted]
    if args.json:
        print(json.dumps({"level": level, "languages": [asdict(r) for r in results]}, indent=2))
    else:
        _print(level, results)
    return 0 if all(r.ok for r in results) else 1


def check_language(name: str, level: str) -> Checkup:
    from uscd.execution import languages as langs

    try:
        spec = langs.require(name)
    except UscdError as exc:
        return Checkup(name, False, problem=str(exc))
    version = tool_version(spec.tools[0])
    sandbox, problem = sandbox_check(spec, level)
    return Checkup(name, not problem, version, sandbox, problem)


def tool_version(tool) -> str:
    from uscd.execution.languages._spec import SANDBOX_PATH

    path = shutil.which(tool.command, path=SANDBOX_PATH) if tool.command else None
    if path is None:
        return ""
    try:
        done = subprocess.run(
            [path, *tool.version_args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(no version: {exc})"
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0][:80] if lines else ""


def sandbox_check(spec, level: str) -> tuple[str, str]:
    """(what happened, problem or ""): the good program must pass, the early exit must not."""
    from uscd.execution import run_program

    good, early_exit = spec.smoke
    start = time.perf_counter()
    passed = run_program(good, language=spec.name, level=level)
    caught = run_program(early_exit, language=spec.name, level=level)
    took = f"{time.perf_counter() - start:.1f}s"
    if not passed.passed:
        return (
            f"known-good program: {passed.status}",
            f"{spec.name}: known-good program {passed.status}: {passed.reason}",
        )
    if caught.passed:
        return (
            "early exit passed",
            f"{spec.name}: a program that exits 0 before its tests passed (harness bug)",
        )
    return f"pass + early exit caught ({took})", ""


def _print(level: str, results: list[Checkup]) -> None:
    print(f"sandbox level: {level}")
    width = max(len(r.language) for r in results)
    for r in results:
        if r.ok:
            print(f"{r.language:<{width}}  ok       {r.version:<44}  {r.sandbox}")
        else:
            print(f"{r.language:<{width}}  PROBLEM  {r.problem}")
    bad = [r.language for r in results if not r.ok]
    print(
        f"{len(results) - len(bad)}/{len(results)} languages ready"
        + (f"; not: {', '.join(bad)}" if bad else "")
    )
