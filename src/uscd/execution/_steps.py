"""Compiled and interpreted non-Python languages: a compile step (if any) and a run step, each its own
sandboxed process tree (sandbox._execute) in one work dir under one sandbox uid lease. The language
modules (uscd.execution.languages) say what to run; this module runs it and names the outcome.
"""

from __future__ import annotations

import dataclasses
import re

from uscd.execution import _uids
from uscd.execution.languages import Language
from uscd.execution.sandbox import _TELLING, ExecResult, Limits, _execute, _Step, _workdir

_COMPILER_ERROR = re.compile(r"error(\[\w+\])?:|error CS\d+|error TS\d+", re.I)


def run_language(program: str, spec: Language, limits: Limits, level: str) -> ExecResult:
    """Compile step (if any) and run step, each its own sandboxed process tree in one work dir."""
    extra_args, shared = spec.compile_extra(program) if spec.compile_extra else ((), ())
    binds = (*("/etc/" + name for name in ("alternatives", *spec.etc)), *shared)
    seed = spec.workdir_seed() if spec.workdir_seed else None
    with _uids.lease() as uid, _workdir(spec.files(program), uid, seed) as workdir:
        spent = 0.0
        if spec.compile is not None:
            step = _Step((*spec.compile, *extra_args), spec.env, binds, prove=False)
            built = _execute(workdir, uid, _compile_limits(spec, limits), level, step)
            if not built.passed:
                return _compile_failure(built)
            spent = built.duration_s
        step = _Step(spec.run, spec.env, binds, prove=spec.proof)
        result = _execute(workdir, uid, _run_limits(spec, limits), level, step)
    result = _apply_output_rule(result, spec)
    return dataclasses.replace(result, duration_s=round(result.duration_s + spent, 4))


def _run_limits(spec: Language, limits: Limits) -> Limits:
    return dataclasses.replace(
        limits,
        address_space_mb=max(limits.address_space_mb, spec.address_space_mb),
        nproc=max(limits.nproc, spec.nproc),
        nofile=max(limits.nofile, 256),
    )


def _compile_limits(spec: Language, limits: Limits) -> Limits:
    return dataclasses.replace(
        _run_limits(spec, limits),
        cpu_s=max(1, int(spec.compile_s)),
        wall_s=spec.compile_s,
        address_space_mb=max(limits.address_space_mb, spec.address_space_mb, 4096),
        file_size_mb=max(limits.file_size_mb, 256),
    )


def _compile_failure(built: ExecResult) -> ExecResult:
    if built.status == "timeout":
        reason = f"compile {built.reason}"
    elif built.status == "error":
        reason = built.reason
    else:
        reason = "compile error: " + _first_error_line(built.stderr_tail or built.stdout_tail)
    return dataclasses.replace(built, reason=reason, phase="compile")


def _first_error_line(text: str) -> str:
    """The compiler's first error message (g++ `error:`, rustc `error[E0425]:`, mcs `error CS1525`, ...)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for pattern in (_COMPILER_ERROR, _TELLING):
        for line in lines:
            if pattern.search(line):
                return line[:200]
    return lines[-1][:200] if lines else "(no message)"


def _apply_output_rule(result: ExecResult, spec: Language) -> ExecResult:
    if not result.passed or spec.output_failure is None:
        return result
    why = spec.output_failure(result.stdout_tail, result.stderr_tail)
    return result if why is None else dataclasses.replace(result, status="fail", reason=why)
