"""What a language module declares: toolchain, files, compile and run steps, limits, proof of completion.

Every language follows MultiPL-E's containerless evaluators (nuprl/MultiPL-E, evaluation/src/eval_*.py):
same compiler and interpreter, same flags, same exit-code and output rules. On top of that each one
appends an *epilogue* after the tests: a few statements that run only when the tests ran to their
end, read the per-run nonce from fd 3 and write "N" + nonce to fd 4 (see _driver.py). An early exit
(`exit(0)` in any spelling) never gets there, so it cannot pass.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"  # the PATH programs and compilers get


def cache_root() -> Path:
    """Where shared build artefacts live (the precompiled header): as root a directory the sandbox
    uids can read (not /root/.cache, mode 0700)."""
    if os.geteuid() == 0:
        return Path("/var/cache/uscd")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "uscd"


@dataclass(frozen=True)
class Tool:
    """A command (looked up on the sandbox PATH) or a file the language needs, and what installs it."""

    package: str  # Debian package (or "npm:NAME")
    command: str | None = None
    path: str | None = None
    version_args: tuple[str, ...] = ("--version",)

    def present(self) -> bool:
        if self.command is not None:
            return shutil.which(self.command, path=SANDBOX_PATH) is not None
        return self.path is not None and bool(glob.glob(self.path))  # a pattern: versioned gem dirs

    @property
    def label(self) -> str:
        return self.command or self.path or self.package


@dataclass(frozen=True)
class Language:
    name: str  # MultiPL-E's key: cpp, go, java, ...
    source: str  # the program's file name in the work dir
    tools: tuple[Tool, ...]
    run: tuple[str, ...]  # argv of the run step (cwd = the work dir)
    compile: tuple[str, ...] | None = None  # argv of the compile step, if any
    epilogue: Callable[[str], Mapping[str, str]] | None = None  # program -> files (source included)
    env: Mapping[str, str] = field(default_factory=dict)
    compile_s: float = 30.0  # wall clock of the compile step (CPU limit the same)
    address_space_mb: int = 1024  # at least this much for both steps (JVM, Go, mono need more)
    nproc: int = 16  # at least this many processes + threads (JIT and GC threads count)
    etc: tuple[str, ...] = ()  # /etc entries the toolchain needs inside the namespace level
    # MultiPL-E's rules that fail a run despite exit status 0 (e.g. rackunit only prints): a reason or None
    output_failure: Callable[[str, str], str | None] | None = None
    # program -> (extra compile args, host dirs the sandbox must see read-only): shared build artefacts
    compile_extra: Callable[[str], tuple[tuple[str, ...], tuple[str, ...]]] | None = None
    notes: str = ""  # where this differs from MultiPL-E's evaluator, for docs and doctor
    smoke: tuple[str, str] = ("", "")  # (a program that passes, one that exits 0 early): `uscd doctor`
    # False only for comparisons (scripts/multipl_e_parity.py): exit status 0 alone passes, as in MultiPL-E
    proof: bool = True

    def files(self, program: str) -> Mapping[str, str]:
        if self.epilogue is None:
            return {self.source: program}
        return self.epilogue(program)

    def missing(self) -> list[Tool]:
        return [t for t in self.tools if not t.present()]


def replace_last(text: str, old: str, new: str) -> str | None:
    """`text` with its last `old` replaced by `new`; None when `old` is not there."""
    at = text.rfind(old)
    if at < 0:
        return None
    return text[:at] + new + text[at + len(old) :]


def stderr_not_empty(stdout: str, stderr: str) -> str | None:
    """MultiPL-E's racket and scala rule: any output on stderr is a failure, whatever the exit status."""
    return "the program wrote to stderr (MultiPL-E counts that as a failure)" if stderr else None


def nonce_epilogue_c(fd_in: int = 3, fd_out: int = 4) -> str:
    """C/C++ statements that copy the nonce from fd 3 to fd 4 behind an "N" (needs <unistd.h>)."""
    return (
        "    char uscd_proof[80] = {'N'};\n"
        f"    ssize_t uscd_got = read({fd_in}, uscd_proof + 1, sizeof uscd_proof - 1);\n"
        f"    if (uscd_got > 0 && write({fd_out}, uscd_proof, (size_t)uscd_got + 1) < 0) return 1;\n"
    )
