"""The only part of uscd that runs generated code. Nothing else may exec, eval or import it.

Levels: "namespace" (bubblewrap: no network, read-only system, private /tmp, pid namespace) and
"process" (rlimits, own session, sandbox uid when root). See docs/sandbox.md.
"""

from uscd.execution.parallel import default_workers, run_many
from uscd.execution.sandbox import (
    DEFAULT_LIMITS,
    LEVELS,
    STATUSES,
    ExecResult,
    Limits,
    SandboxUnavailable,
    available_level,
    run_program,
)

__all__ = [
    "DEFAULT_LIMITS",
    "LEVELS",
    "STATUSES",
    "ExecResult",
    "Limits",
    "SandboxUnavailable",
    "available_level",
    "default_workers",
    "run_many",
    "run_program",
]
