"""The in-sandbox driver: started as `python -s -P -S -B -c <this source> ARGS...` by the harness.

It must not import uscd (it runs inside the sandbox, where uscd may not be visible) and must import
everything it needs before it drops privileges. See docs/sandbox.md for the protocol:

- guard (this process after fork): holds the status pipe, enforces the wall clock, reaps and kills
  everything the program left behind, then writes one verdict line ("exit N", "signal N", "cpu",
  "wall") to the status pipe. When started as root it stays root, so the program cannot kill it.
- runner (the child): reads the nonce and closes that pipe, drops to the sandbox uid, applies the
  rlimits, writes "R" to the done pipe, executes the program, and only if the program returns
  normally writes "N" + nonce there. An exception writes "E" + one line instead.

ARGS: nonce_fd done_fd status_fd uid gid cpu_s wall_s as_bytes fsize_bytes nproc nofile cpus program
[extra sys.path entries...]; uid -1 means "do not switch uid".

Other languages: program is "--exec" and the rest is the command to exec. The runner then does not
read the nonce itself: the nonce pipe becomes fd 3 and the done pipe fd 4 of the program (the harness
made them the sandbox uid's, so /proc/self/fd/3 can be opened too), and the epilogue the harness
appended after the tests reads fd 3 and writes "N" + nonce to fd 4. An early exit never reaches that epilogue.
"""

import _signal as signal  # not `signal`: its enum import costs milliseconds per run
import ctypes
import os
import resource
import stat
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
EXEC = "--exec"
PROGRAM_FDS = (3, 4)  # nonce in, done out: where an exec'd program finds them
_libc = ctypes.CDLL(None, use_errno=True)


class _WallTimeout(Exception):
    pass


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")


def _parse(argv: list[str]) -> dict:
    names = ["nonce_fd", "done_fd", "status_fd", "uid", "gid", "cpu_s", "wall_s"]
    names += ["as_bytes", "fsize_bytes", "nproc", "nofile", "cpus"]
    values = argv[: len(names)]
    cfg = {
        name: float(value) if name == "wall_s" else int(value)
        for name, value in zip(names, values, strict=True)
    }
    cfg["program"] = argv[len(names)]
    cfg["paths"] = argv[len(names) + 1 :]
    if cfg["program"] == EXEC:
        cfg["argv"], cfg["paths"] = cfg["paths"], []
    return cfg


def _searchable(path: str, uid: int, gid: int) -> bool:
    """Can uid:gid (no supplementary groups) walk down to `path` and list it?"""
    parts = os.path.realpath(path).split("/")
    for i in range(1, len(parts) + 1):
        st = os.stat("/".join(parts[:i]) or "/")
        bits = (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
        if i == len(parts):
            bits = (stat.S_IXUSR | stat.S_IRUSR, stat.S_IXGRP | stat.S_IRGRP, stat.S_IXOTH | stat.S_IROTH)
        need = bits[0] if st.st_uid == uid else bits[1] if st.st_gid == gid else bits[2]
        if st.st_mode & need != need:
            return False
    return True


def _reach_paths(uid: int, gid: int) -> None:
    """Keep the stdlib importable after the uid switch even if it lies under an unsearchable
    directory (e.g. a pyenv under /root): a dir fd opened now, used as /proc/self/fd/N, skips
    the permission checks on the path above it."""
    moved = {}
    for i, path in enumerate(sys.path):
        if os.path.isdir(path) and not _searchable(path, uid, gid):
            moved[path] = f"/proc/self/fd/{os.open(path, os.O_RDONLY | os.O_DIRECTORY)}"
            sys.path[i] = moved[path]
    if not moved:
        return
    for module in list(sys.modules.values()):  # packages already imported (collections, encodings)
        search = getattr(module, "__path__", None)
        if isinstance(search, list):
            search[:] = [_moved(entry, moved) for entry in search]
    sys.path_importer_cache.clear()


def _moved(entry: str, moved: dict) -> str:
    for old, new in moved.items():
        if entry == old or entry.startswith(old + "/"):
            return new + entry[len(old) :]
    return entry


def _drop_privileges(uid: int, gid: int) -> None:
    _reach_paths(uid, gid)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _count_own_tasks() -> int:
    """Threads of our real uid: RLIMIT_NPROC counts them all, not only the sandbox's."""
    total, uid = 0, os.getuid()
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
        except (OSError, ValueError, KeyError):
            continue
    return total


def _set_limits(cfg: dict) -> None:
    nproc = cfg["nproc"] if cfg["uid"] >= 0 else cfg["nproc"] + _count_own_tasks()
    for res, soft, hard in (
        (resource.RLIMIT_CPU, cfg["cpu_s"], cfg["cpu_s"] + 1),
        (resource.RLIMIT_AS, cfg["as_bytes"], cfg["as_bytes"]),
        (resource.RLIMIT_FSIZE, cfg["fsize_bytes"], cfg["fsize_bytes"]),
        (resource.RLIMIT_NPROC, nproc, nproc),
        (resource.RLIMIT_NOFILE, cfg["nofile"], cfg["nofile"]),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        resource.setrlimit(res, (soft, hard))


def _pin_cpus(count: int, key: int) -> None:
    """At most `count` of our CPUs, a window chosen by `key` so that concurrent runs spread out."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) <= count:
        return
    start = key * count % len(available)
    os.sched_setaffinity(0, {available[(start + i) % len(available)] for i in range(count)})


def _enter_sandbox(cfg: dict) -> None:
    """Drop to the sandbox uid, no new privileges, die with the guard, pin CPUs, rlimits."""
    if cfg["uid"] >= 0:
        _drop_privileges(cfg["uid"], cfg["gid"])
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid switch, which resets it
    if os.getppid() != cfg["guard_pid"]:
        os._exit(125)  # the guard is gone: nobody would clean up after us
    _pin_cpus(cfg["cpus"], cfg["uid"] if cfg["uid"] >= 0 else os.getpid())
    _set_limits(cfg)


def _exec_program(cfg: dict) -> None:
    """Exec a command (compiler or compiled program) with the nonce on fd 3 and the done pipe on fd 4."""
    moved = []
    for offset, fd in enumerate((cfg["nonce_fd"], cfg["done_fd"])):
        moved.append(os.dup2(fd, 100 + offset))
        os.close(fd)
    for fd, target in zip(moved, PROGRAM_FDS, strict=True):
        os.dup2(fd, target)  # inheritable
        os.close(fd)
    _enter_sandbox(cfg)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores them; a normal program does not
        signal.signal(sig, signal.SIG_DFL)
    os.write(PROGRAM_FDS[1], b"R")
    try:
        os.execvp(cfg["argv"][0], cfg["argv"])
    except OSError as exc:
        os.write(PROGRAM_FDS[1], f"Ecannot run {cfg['argv'][0]}: {exc.strerror}\n".encode())
        os._exit(127)


def _run(cfg: dict) -> None:
    """The runner. Never returns: the process ends here."""
    os.close(cfg["status_fd"])
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    if cfg["program"] == EXEC:
        _exec_program(cfg)
    nonce = b""
    while chunk := os.read(cfg["nonce_fd"], 64):
        nonce += chunk
    os.close(cfg["nonce_fd"])
    done = cfg["done_fd"]
    os.set_inheritable(done, False)
    sys.path.extend(cfg["paths"])
    _enter_sandbox(cfg)
    with open(cfg["program"], encoding="utf-8") as f:
        source = f.read()
    sys.argv = [cfg["program"]]
    builtins = sys.modules["builtins"]
    builtins.exit = builtins.quit = _quit  # what site.py would add; -S skips it
    module = type(sys)("__main__")
    module.__dict__.update(__file__=cfg["program"], __builtins__=__builtins__)
    sys.modules["__main__"] = module
    os.write(done, b"R")
    try:
        exec(compile(source, cfg["program"], "exec"), module.__dict__)
    except SystemExit:
        raise  # the interpreter turns it into an exit status; no nonce: "exited early"
    except BaseException as exc:
        _report_exception(done, exc)
        exc = exc.with_traceback(exc.__traceback__.tb_next)  # hide the driver's own frame
        sys.excepthook(type(exc), exc, exc.__traceback__)
        _flush()
        os._exit(1)
    _flush()
    os.write(done, b"N" + nonce)
    os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # a program may leave stdout broken; the verdict stands
            continue


def _quit(code=None):
    raise SystemExit(code)


def _report_exception(done: int, exc: BaseException) -> None:
    try:
        text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        os.write(done, b"E" + text.splitlines()[0][:160].encode("utf-8", "replace") + b"\n")
    except BaseException:  # a hostile __str__ must not hide the failure itself
        os.write(done, b"E" + type(exc).__name__.encode() + b"\n")


def _kill_all(uid: int, runner: int) -> None:
    """One pass that SIGKILLs everything the program may have left."""
    if uid >= 0:
        pid = os.fork()
        if pid == 0:  # a helper as the sandbox uid: kill(-1) then reaches exactly that uid
            try:
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        return
    # Same uid as the harness: kill the runner's process group (atomic against fork, so a fork
    # bomb cannot refill it), then whatever left the group and was reparented to us.
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        children = []
    for target in (-runner, *children):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            continue


def _reap_everything(uid: int, runner: int) -> None:
    """We are a subreaper: every orphan of the program ends up our child. Kill and reap until none."""
    while True:
        _kill_all(uid, runner)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        except ChildProcessError:
            return
        time.sleep(0.002)


def _verdict(status: int, usage: resource.struct_rusage, cpu_s: int) -> str:
    if os.WIFEXITED(status):
        return f"exit {os.WEXITSTATUS(status)}"
    sig = os.WTERMSIG(status)
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= cpu_s):
        return "cpu"
    return f"signal {sig}"


def _on_alarm(signum, frame):
    raise _WallTimeout


def _guard(cfg: dict, runner: int) -> None:
    os.close(cfg["nonce_fd"])
    os.close(cfg["done_fd"])
    signal.setitimer(signal.ITIMER_REAL, cfg["wall_s"])
    try:
        _, status, usage = os.wait4(runner, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        verdict = _verdict(status, usage, cfg["cpu_s"])
    except _WallTimeout:
        verdict = "wall"
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    _reap_everything(cfg["uid"], runner)
    os.write(cfg["status_fd"], verdict.encode() + b"\n")
    os._exit(0)


def _own_group(runner: int) -> None:
    """Put the runner in its own process group from this side too, so that neither order of the
    two calls races. EACCES (it already exec'd) or ESRCH (it already ended) means the runner's
    own setpgid, its first statement, has already run."""
    try:  # noqa: SIM105 -- contextlib is one more import on every sandboxed run
        os.setpgid(runner, runner)
    except (PermissionError, ProcessLookupError):
        pass


def main(argv: list[str]) -> None:
    cfg = _parse(argv)
    cfg["guard_pid"] = os.getpid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    # If the harness dies, clean up as on a wall timeout instead of leaving the program running.
    signal.signal(signal.SIGALRM, _on_alarm)
    _prctl(PR_SET_PDEATHSIG, signal.SIGALRM)
    runner = os.fork()
    if runner == 0:
        os.setpgid(0, 0)
        _run(cfg)
    _own_group(runner)
    _guard(cfg, runner)


if __name__ == "__main__":
    main(sys.argv[1:])
