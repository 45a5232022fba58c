"""Run one untrusted program and tell whether its tests ran to the end.

Modelled on openai/human-eval's execution.py, but the isolation lives outside the interpreter:
a separate process per program (optionally inside bubblewrap), rlimits, a sandbox uid when run
as root, a wall clock, capped output, and a per-run nonce as proof of completion. See
docs/sandbox.md for the threat model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from uscd.execution import _levels, _uids

_log = logging.getLogger("uscd.execution")
TAIL_BYTES = 4096  # kept of each of stdout and stderr
_PROTOCOL_BYTES = 4096  # cap on what the done and status pipes may send
_GRACE_S = 5.0  # the driver enforces wall_s itself; the harness only steps in after this much more
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
STATUSES = ("pass", "fail", "timeout", "error")
PYTHON = "python"
_TELLING = re.compile(r"error|exception|assert|panic|fail", re.I)  # the stderr line worth quoting
LEVELS = _levels.LEVELS


class SandboxUnavailable(RuntimeError):
    """The requested isolation level cannot be provided on this machine."""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 10  # per process
    wall_s: float = 10.0  # whole run, every process of it
    address_space_mb: int = 1024  # per process
    file_size_mb: int = 16  # largest file it may write
    nproc: int = 16  # processes + threads of the sandbox uid
    nofile: int = 128
    output_bytes: int = 1 << 20  # stdout + stderr; beyond it the pipes are closed and the run fails
    # CPUs the run may use (its affinity mask): toolchains size their thread pools by the CPUs they
    # see, so on a many-core machine an uncapped Go, JVM or rustc would outgrow `nproc`
    cpus: int = 2

    def __post_init__(self) -> None:
        names = ("cpu_s", "address_space_mb", "file_size_mb", "nproc", "nofile", "output_bytes", "cpus")
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        if not self.wall_s > 0:
            raise ValueError(f"Limits.wall_s must be positive, got {self.wall_s!r}")


@dataclass(frozen=True)
class ExecResult:
    status: str  # "pass" | "fail" | "timeout" | "error"
    level: str  # "namespace" | "process"
    exit_code: int | None  # the program's; negative: killed by that signal; None: not known
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    reason: str  # one short line; "" for a pass
    phase: str = "run"  # "compile": the compile step failed or timed out (the program never ran)

    @property
    def passed(self) -> bool:
        return self.status == "pass"


DEFAULT_LIMITS = Limits()


@cache
def _driver_source() -> str:
    return (Path(__file__).with_name("_driver.py")).read_text(encoding="utf-8")


# Read now, with this module: a driver file edited later (an editable install during a long eval)
# must not be paired with the argv this module builds.
_driver_source()


# --------------------------------------------------------------------------- levels


_level_lock = threading.Lock()
_level_cache: dict[str, str] = {}


def available_level(requested: str = "auto") -> str:
    """The isolation level runs will get. "auto": namespace if bubblewrap works here, else process
    (with one warning). Asking for "namespace" where it does not work raises SandboxUnavailable."""
    if requested == "process":
        return "process"
    if requested not in ("auto", "namespace"):
        raise ValueError(f"unknown sandbox level {requested!r}; use auto, namespace or process")
    with _level_lock:
        if "probe" not in _level_cache:
            _level_cache["probe"] = _probe_namespace()
    problem = _level_cache["probe"]
    if not problem:
        return "namespace"
    if requested == "namespace":
        raise SandboxUnavailable(f"namespace sandbox unusable: {problem}")
    with _level_lock:
        if "warned" not in _level_cache:
            _level_cache["warned"] = "yes"
            message = f"bubblewrap sandbox unusable ({problem}); falling back to the process level"
            _log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)
    return "process"


_SELF_TEST = """
import os, socket
names = [n for _, n in socket.if_nameindex()]
assert names == ["lo"], f"network visible: {names}"
assert os.getuid() != 0 or not ROOT, "still root"
try:
    open("/usr/.uscd-probe", "w")
    raise AssertionError("/usr is writable")
except OSError:
    pass
assert os.getcwd() == SANDBOX_DIR, os.getcwd()
"""


def _probe_namespace() -> str:
    """Empty when the namespace level works; otherwise why not."""
    if _levels.bwrap_path() is None:
        return "bwrap not found (install the Debian package bubblewrap: scripts/install-system-deps.sh)"
    program = f"ROOT = {_uids.running_as_root()}\nSANDBOX_DIR = {_levels.SANDBOX_DIR!r}\n" + _SELF_TEST
    try:
        result = _run_at_level(program, Limits(wall_s=10.0), "namespace")
    except OSError as exc:
        return f"cannot start bwrap: {exc}"
    if result.passed:
        return ""
    detail = result.stderr_tail.strip().splitlines()[-1:] or [result.reason]
    return f"self-test {result.status}: {detail[0][:200]}"


# --------------------------------------------------------------------------- one run


def run_program(
    program: str, *, language=PYTHON, limits: Limits = DEFAULT_LIMITS, level: str = "auto"
) -> ExecResult:
    """Execute `program` (tests included) in a sandbox and classify the outcome.

    `language`: "python", a MultiPL-E key (cpp, java, ...; see uscd.execution.languages) or a
    languages.Language spec. A missing toolchain raises languages.ToolchainMissing, an unknown
    language ValueError.
    """
    if language == PYTHON:
        return _run_at_level(program, limits, available_level(level))
    from uscd.execution import languages
    from uscd.execution._steps import run_language

    spec = languages.require(language) if isinstance(language, str) else language
    return run_language(program, spec, limits, available_level(level))


def _run_at_level(program: str, limits: Limits, level: str) -> ExecResult:
    with _uids.lease() as uid, _workdir({"main.py": program}, uid) as workdir:
        return _execute(workdir, uid, limits, level)


@dataclass(frozen=True)
class _Step:
    """One exec'd command of a non-Python run: the compiler, or the program with its proof."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    binds: tuple[str, ...]  # host paths the namespace level must show read-only
    prove: bool  # True: a pass needs the nonce on the done pipe; False: exit status 0 suffices


@contextlib.contextmanager
def _workdir(files: Mapping[str, str], uid: int | None, seed: str | None = None):
    path = tempfile.mkdtemp(prefix="uscd-run-")
    try:
        if seed is not None:
            _plant(seed, path, uid)
        for name, text in files.items():
            Path(path, name).write_text(text, encoding="utf-8")
            os.chmod(os.path.join(path, name), 0o444)
        os.makedirs(os.path.join(path, "tmp"), 0o700, exist_ok=True)
        if uid is not None:
            # group root, so that bwrap (root without CAP_DAC_OVERRIDE) can still chdir there
            for directory in (path, os.path.join(path, "tmp")):
                os.chown(directory, uid, 0)
                os.chmod(directory, 0o770)
        yield path
    finally:
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_force_remove)
        else:
            shutil.rmtree(path, onerror=_force_remove)


def _plant(seed: str, workdir: str, uid: int | None) -> None:
    """The seed's folders made anew (the sandbox uid's, so it can add files), its files hard-linked:
    no copying, and a program cannot change them for the next run (they stay root's, 0644); it can only
    unlink its own links. Copied when the seed lies on another file system."""
    for root, dirs, names in os.walk(seed):
        target = os.path.join(workdir, os.path.relpath(root, seed))
        for name in dirs:
            os.makedirs(os.path.join(target, name), 0o770, exist_ok=True)
            if uid is not None:
                os.chown(os.path.join(target, name), uid, 0)
        for name in names:
            try:
                os.link(os.path.join(root, name), os.path.join(target, name))
            except OSError:  # EXDEV
                shutil.copy2(os.path.join(root, name), os.path.join(target, name))


def _force_remove(func, path, _exc) -> None:
    # A program running as our own uid may chmod its files read-only.
    with contextlib.suppress(OSError):
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        func(path)


def _env(workdir: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": _SAFE_PATH,
        "HOME": workdir,
        "TMPDIR": os.path.join(workdir, "tmp"),  # inside the work dir, so it is removed with it
        "LANG": "C.UTF-8",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env.update({k: v.replace("{home}", workdir) for k, v in (extra or {}).items()})
    return env


def _driver_args(
    fds: tuple[int, int, int], uid: int | None, limits: Limits, step: _Step | None = None
) -> list[str]:
    values = [
        *fds,
        -1 if uid is None else uid,
        -1 if uid is None else uid,
        limits.cpu_s,
        limits.wall_s,
        limits.address_space_mb << 20,
        limits.file_size_mb << 20,
        limits.nproc,
        limits.nofile,
        limits.cpus,
        *(("main.py", *_levels.site_packages()) if step is None else ("--exec", *step.argv)),
    ]
    return [str(v) for v in values]


def _execute(
    workdir: str, uid: int | None, limits: Limits, level: str, step: _Step | None = None
) -> ExecResult:
    """One sandboxed process tree: the Python driver (step None) or an exec'd command."""
    nonce = secrets.token_hex(16).encode()
    nonce_r, nonce_w = os.pipe()
    done_r, done_w = os.pipe()
    status_r, status_w = os.pipe()
    os.write(nonce_w, nonce)
    os.close(nonce_w)
    if step is not None and uid is not None:
        for fd in (nonce_r, done_w):  # the program reopens them via /proc/self/fd (Java, R, Lua)
            os.fchown(fd, uid, uid)
    child_fds = (nonce_r, done_w, status_w)
    inner_dir = _levels.SANDBOX_DIR if level == "namespace" else workdir
    argv = _levels.python_argv(_driver_source()) + _driver_args(child_fds, uid, limits, step)
    if level == "namespace":
        argv = _levels.bwrap_argv(workdir, _uids.running_as_root(), step.binds if step else ()) + argv
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=workdir, env=_env(inner_dir, step.env if step else None), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, pass_fds=child_fds, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        os.close(done_r)
        os.close(status_r)
        return ExecResult("error", level, None, 0.0, "", "", f"cannot start the sandbox: {exc}")
    finally:
        for fd in child_fds:
            os.close(fd)
    with proc:
        streams = _Collector(proc, done_r, status_r, limits).collect(start + limits.wall_s + _GRACE_S)
    if streams.backstop and uid is not None:
        _uids.kill_uid(uid)
    expected = b"RN" + nonce if step is None or step.prove else b"R"
    return _classify(streams, expected, level, limits, time.monotonic() - start, step is not None)


@dataclass
class _Streams:
    stdout: bytes = b""
    stderr: bytes = b""
    done: bytes = b""
    status: bytes = b""
    overflow: bool = False
    backstop: bool = False  # the harness had to kill the run itself
    top_exit: int | None = None


class _Collector:
    """Reads the four pipes with caps until the top process (driver or bwrap) exits."""

    def __init__(self, proc: subprocess.Popen, done_r: int, status_r: int, limits: Limits):
        self.proc, self.limits, self.result = proc, limits, _Streams()
        self.total = 0
        self.buffers = {
            "stdout": bytearray(),
            "stderr": bytearray(),
            "done": bytearray(),
            "status": bytearray(),
        }
        self.files = {
            "stdout": proc.stdout.fileno(),
            "stderr": proc.stderr.fileno(),
            "done": done_r,
            "status": status_r,
        }
        self.owned = [done_r, status_r]

    def collect(self, deadline: float) -> _Streams:
        try:
            with selectors.DefaultSelector() as sel:
                for name, fd in self.files.items():
                    os.set_blocking(fd, False)
                    sel.register(fd, selectors.EVENT_READ, name)
                self._loop(sel, deadline)
                self._drain(sel, time.monotonic() + 1.0)
        finally:
            for fd in self.owned:
                os.close(fd)
        r = self.result
        r.stdout, r.stderr = bytes(self.buffers["stdout"]), bytes(self.buffers["stderr"])
        r.done, r.status = bytes(self.buffers["done"]), bytes(self.buffers["status"])
        return r

    def _loop(self, sel: selectors.BaseSelector, deadline: float) -> None:
        pidfd = _pidfd(self.proc.pid)
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        try:
            while self.proc.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.result.backstop = True
                    _uids.kill_session(self.proc.pid)
                    self.proc.wait()
                    break
                for key, _ in sel.select(min(left, 0.05 if pidfd is None else left)):
                    if key.data != "exit":
                        self._read(sel, key.fd, key.data)
        finally:
            if pidfd is not None:
                sel.unregister(pidfd)
                os.close(pidfd)
        self.result.top_exit = self.proc.returncode

    def _drain(self, sel: selectors.BaseSelector, deadline: float) -> None:
        # The driver reaps everything before it exits, so EOF follows at once; a leftover writer
        # (only possible if the driver was killed) gets the process group killed instead.
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                self._read(sel, key.fd, key.data)
        if sel.get_map():
            _uids.kill_session(self.proc.pid)

    def _read(self, sel: selectors.BaseSelector, fd: int, name: str) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            sel.unregister(fd)
            return
        buf = self.buffers[name]
        buf += data
        if name in ("done", "status"):
            if len(buf) > _PROTOCOL_BYTES:
                del buf[_PROTOCOL_BYTES:]
                sel.unregister(fd)  # stop reading; the run cannot pass with junk there anyway
            return
        del buf[:-TAIL_BYTES]
        self.total += len(data)
        if self.total > self.limits.output_bytes:
            self.result.overflow = True
            # Closing our ends makes further writes fail with EPIPE: the flood stops by itself.
            for stream in ("stdout", "stderr"):
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(self.files[stream])
            self.proc.stdout.close()
            self.proc.stderr.close()


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


# --------------------------------------------------------------------------- verdicts


def _classify(
    s: _Streams, expected: bytes, level: str, limits: Limits, duration: float, execd: bool = False
) -> ExecResult:
    status, exit_code, reason = _verdict(s, expected, limits)
    if (
        execd
        and status == "fail"
        and not s.overflow
        and not s.done.startswith(b"RE")
        and exit_code is not None
    ):
        reason = _exit_reason(exit_code, s.stderr)
    return ExecResult(
        status=status,
        level=level,
        exit_code=exit_code,
        duration_s=round(duration, 4),
        stdout_tail=_tail_text(s.stdout),
        stderr_tail=_tail_text(s.stderr),
        reason=reason,
    )


def _tail_text(data: bytes) -> str:
    start = 0
    if len(data) >= TAIL_BYTES:  # cut: skip the rest of a split UTF-8 character
        while start < 3 and 0x80 <= data[start] < 0xC0:
            start += 1
    return data[start:].decode("utf-8", "replace")


def _verdict(s: _Streams, expected: bytes, limits: Limits) -> tuple[str, int | None, str]:
    guard = s.status.decode("ascii", "replace").strip().split()
    if s.backstop:
        return "timeout", None, f"wall timeout {limits.wall_s:g}s (killed by the harness)"
    if not guard:
        if s.done.startswith(b"R"):  # the program started, then took its guard down with it
            return "fail", None, f"the sandbox guard was killed (exit status {s.top_exit})"
        return "error", None, _sandbox_failure(s)
    if guard[0] == "wall":
        return "timeout", None, f"wall timeout {limits.wall_s:g}s"
    if guard[0] == "cpu":
        return "timeout", None, f"cpu limit {limits.cpu_s}s"
    exit_code = int(guard[1]) if guard[0] == "exit" else -int(guard[1])
    if not s.done.startswith(b"R"):
        return "error", exit_code, _sandbox_failure(s)
    if s.overflow:
        return "fail", exit_code, f"output limit exceeded ({limits.output_bytes} bytes)"
    if exit_code == 0 and s.done == expected:
        return "pass", 0, ""
    return "fail", exit_code, _failure_reason(s.done, exit_code)


def _failure_reason(done: bytes, exit_code: int) -> str:
    if done.startswith(b"RE"):
        return done[2:].split(b"\n")[0].decode("utf-8", "replace") or "exception"
    if exit_code < 0:
        return f"killed by signal {-exit_code}"
    return f"exited before the tests finished (exit code {exit_code})"


def _exit_reason(exit_code: int, stderr: bytes) -> str:
    """Why an exec'd program failed: its exit status and the last line it wrote to stderr."""
    if exit_code == 0:
        return "exited with status 0 before the tests finished (no proof of completion)"
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    status = f"killed by signal {-exit_code}" if exit_code < 0 else f"exit code {exit_code}"
    telling = [line for line in lines if _TELLING.search(line)] or lines
    return f"{status}: {telling[-1][:160]}" if telling else status


def _sandbox_failure(s: _Streams) -> str:
    lines = s.stderr.decode("utf-8", "replace").strip().splitlines()
    detail = lines[-1][:200] if lines else f"exit status {s.top_exit}"
    return f"sandbox failed before the program started: {detail}"
