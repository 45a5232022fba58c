"""The sandbox's API and ordinary behaviour (hostile programs: test_hostile.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import threading
import warnings

import pytest

from test_sandbox_support import AS_ROOT, FAST, level_param, namespace_problem
from uscd.execution import (
    LEVELS,
    ExecResult,
    Limits,
    SandboxUnavailable,
    _uids,
    available_level,
    default_workers,
    run_many,
    run_program,
    sandbox,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["process", "namespace"])
def level(request) -> str:
    return level_param(request)


@pytest.fixture
def fresh_levels(monkeypatch):
    """An empty level cache, restored afterwards."""
    monkeypatch.setattr(sandbox, "_level_cache", {})


# --------------------------------------------------------------------------- API shape


def test_limits_and_results_are_frozen():
    limits = Limits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.cpu_s = 1  # type: ignore[misc]
    assert {f.name for f in dataclasses.fields(ExecResult)} == {
        "status", "level", "exit_code", "duration_s", "stdout_tail", "stderr_tail", "reason", "phase",
    }  # fmt: skip


def test_available_level():
    assert available_level() in LEVELS
    assert available_level("auto") == available_level()
    assert available_level("process") == "process"
    with pytest.raises(ValueError, match="unknown sandbox level"):
        available_level("docker")


def test_unsupported_language():
    with pytest.raises(ValueError, match="cannot be executed"):
        run_program("print(1)", language="cobol")


def test_fallback_warns_once(fresh_levels, monkeypatch):
    monkeypatch.setattr(sandbox, "_probe_namespace", lambda: "bwrap not found")
    with pytest.warns(RuntimeWarning, match="falling back to the process level"):
        assert available_level() == "process"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert available_level() == "process"
    with pytest.raises(SandboxUnavailable, match="bwrap not found"):
        available_level("namespace")
    assert run_program("assert True").level == "process"


def test_broken_bwrap_fails_the_self_test(fresh_levels, monkeypatch):
    monkeypatch.setattr(sandbox._levels, "bwrap_path", lambda: "/bin/false")
    with pytest.warns(RuntimeWarning, match="self-test"):
        assert available_level() == "process"


def test_missing_bwrap(fresh_levels, monkeypatch):
    monkeypatch.setattr(sandbox._levels, "bwrap_path", lambda: None)
    with pytest.raises(SandboxUnavailable, match="bwrap not found"):
        available_level("namespace")


# --------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize(
    ("program", "status", "reason"),
    [
        ("x = 1\nassert x == 1\n", "pass", ""),
        ("assert 1 == 2, 'nope'\n", "fail", "AssertionError: nope"),
        ("1 / 0\n", "fail", "ZeroDivisionError: division by zero"),
        ("def f(:\n", "fail", "SyntaxError: invalid syntax (main.py, line 1)"),
        ("import sys\nsys.exit(3)\n", "fail", "exited before the tests finished (exit code 3)"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "fail", "killed by signal 11"),
        ("raise KeyboardInterrupt\n", "fail", "KeyboardInterrupt"),
        ("import no_such_module_xyz\n", "fail", "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
    ],
)
def test_statuses_and_reasons(level, program, status, reason):
    result = run_program(program, level=level, limits=FAST)
    assert (result.status, result.reason) == (status, reason), result
    assert result.level == level


def test_exit_code_and_tails(level):
    result = run_program("import sys\nprint('é' * 3000)\nprint('to stderr', file=sys.stderr)\n", level=level)
    assert result.status == "pass" and result.exit_code == 0
    assert result.stdout_tail.endswith("ééé\n")
    assert len(result.stdout_tail.encode()) <= sandbox.TAIL_BYTES
    assert result.stderr_tail == "to stderr\n"
    assert result.duration_s > 0


def test_a_run_sees_at_most_its_cpus(level):
    """Toolchains size thread pools by the CPUs they see; a many-core machine must not outgrow nproc."""
    program = "import os\nprint(len(os.sched_getaffinity(0)))\n"
    one = run_program(program, level=level, limits=dataclasses.replace(FAST, cpus=1))
    assert one.status == "pass" and one.stdout_tail == "1\n", one
    default = run_program(program, level=level, limits=FAST)
    assert int(default.stdout_tail) == min(FAST.cpus, len(os.sched_getaffinity(0))), default


def test_the_driver_is_read_with_the_module_that_builds_its_argv():
    probe = "import uscd.execution.sandbox as s; print(s._driver_source.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"  # read at import, not at the first run


def test_concurrent_runs_get_different_cpu_windows(monkeypatch):
    from uscd.execution import _driver

    pinned = []
    monkeypatch.setattr(_driver.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(_driver.os, "sched_setaffinity", lambda pid, cpus: pinned.append(sorted(cpus)))
    for key in range(5):
        _driver._pin_cpus(2, key)
    assert pinned == [[0, 1], [2, 3], [4, 5], [6, 7], [0, 1]]
    monkeypatch.setattr(_driver.os, "sched_getaffinity", lambda pid: {0, 1})
    _driver._pin_cpus(2, 7)
    assert len(pinned) == 5  # no more CPUs than the cap: left alone


def test_invalid_utf8_output(level):
    result = run_program("import os\nos.write(1, b'\\xff\\xfe ok')\n", level=level)
    assert result.status == "pass" and result.stdout_tail.endswith(" ok")


def test_program_environment(level):
    program = """
import os, resource, sys, tempfile
assert __name__ == "__main__"
assert sys.argv == ["main.py"]
assert sys.flags.hash_randomization == 0 and sys.flags.no_user_site and sys.flags.safe_path
assert "" not in sys.path and os.getcwd() not in sys.path
assert os.environ["HOME"] == os.getcwd()
assert os.environ["PYTHONDONTWRITEBYTECODE"] == "1"
assert "http_proxy" not in os.environ and "https_proxy" not in os.environ
open("scratch.txt", "w").write("x")
with tempfile.NamedTemporaryFile() as f:
    assert f.name.startswith(os.getcwd())
assert resource.getrlimit(resource.RLIMIT_CPU) == (2, 3)
assert resource.getrlimit(resource.RLIMIT_AS) == (512 << 20, 512 << 20)
assert resource.getrlimit(resource.RLIMIT_FSIZE) == (4 << 20, 4 << 20)
assert resource.getrlimit(resource.RLIMIT_NOFILE) == (64, 64)
assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
"""
    result = run_program(program, level=level, limits=FAST)
    assert result.status == "pass", result


def test_stdlib_and_site_packages_import(level):
    program = "import collections.abc, decimal, json, hashlib, typing, heapq, fractions, sqlite3\n"
    program += "import numpy\nassert numpy.arange(4).sum() == 6\n"
    assert run_program(program, level=level).status == "pass"


def test_work_dir_is_removed(level, monkeypatch):
    seen = []
    real = sandbox._workdir

    @contextlib.contextmanager
    def spy(program, uid):
        with real(program, uid) as path:
            seen.append(path)
            yield path

    monkeypatch.setattr(sandbox, "_workdir", spy)
    program = "import os\nos.makedirs('a/b')\nopen('a/b/c', 'w').write('x')\nos.chmod('a', 0o500)\n"
    assert run_program(program, level=level).status == "pass"
    assert seen and not os.path.exists(seen[0])


def test_namespace_view():
    if problem := namespace_problem():
        pytest.skip(f"namespace level unusable here: {problem}")
    level = "namespace"
    program = """
import os, socket
assert os.getcwd() == "/sandbox"
assert [n for _, n in socket.if_nameindex()] == ["lo"]
assert not os.path.exists("/etc/passwd") and not os.path.exists("/etc/shadow")
assert os.listdir("/proc").count("1") == 1 and len([p for p in os.listdir("/proc") if p.isdigit()]) <= 4
for path in ("/usr/x", "/etc/x", "/x"):
    try:
        open(path, "w")
        raise AssertionError(path + " is writable")
    except OSError:
        pass
"""
    result = run_program(program, level=level)
    assert result.status == "pass", result


# --------------------------------------------------------------------------- run_many


def test_run_many_streams_every_result(level):
    items = [(i, f"assert {i} % 3 != 0\n") for i in range(12)]
    seen = []
    results = dict(run_many(items, workers=2, level=level, on_result=lambda k, r: seen.append(k)))
    assert sorted(results) == list(range(12)) == sorted(seen)
    assert {k for k, r in results.items() if r.status == "pass"} == {i for i in range(12) if i % 3}
    assert {r.level for r in results.values()} == {level}


def test_run_many_runs_in_parallel(level):
    program = "import time\nprint(time.time())\ntime.sleep(1.0)\nprint(time.time())\n"
    results = [r for _, r in run_many([(i, program) for i in range(2)], workers=2, level=level)]
    (a0, a1), (b0, b1) = (tuple(map(float, r.stdout_tail.split())) for r in results)
    assert a0 < b1 and b0 < a1, "the two runs did not overlap"


def test_run_many_consumes_lazily(level):
    pulled = []

    def items():
        for i in range(20):
            pulled.append(i)
            yield i, "pass\n"

    stream = run_many(items(), workers=1, level=level)
    next(stream)
    assert len(pulled) <= 3
    assert len(list(stream)) == 19


def test_default_workers():
    assert default_workers() == len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------- sandbox uids


@pytest.mark.skipif(not AS_ROOT, reason="sandbox uids are only used when the harness runs as root")
def test_concurrent_leases_are_distinct():
    held, lock, barrier = [], threading.Lock(), threading.Barrier(4)

    def take():
        with _uids.lease() as uid:
            with lock:
                held.append(uid)
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(held)) == 4
    assert all(_uids.UID_BASE <= uid < _uids.UID_BASE + _uids.UID_COUNT for uid in held)


@pytest.mark.skipif(not AS_ROOT, reason="sandbox uids are only used when the harness runs as root")
def test_kill_uid_reaches_everything_of_that_uid():
    import subprocess

    with _uids.lease() as uid:
        proc = subprocess.Popen(["sleep", "60"], user=uid, group=uid, start_new_session=True)
        assert proc.pid in _uids.processes_of(uid)
        _uids.kill_uid(uid)
        proc.wait(timeout=5)
        assert _uids.processes_of(uid) == []


def test_harness_death_takes_the_run_with_it(level, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from test_sandbox_support import processes_with

    token = os.urandom(6).hex()
    marker = f"uscd-orphan-{token}"  # assembled inside the program: the harness's argv must not match
    program = f"import os\nos.execv('/bin/sh', ['sh', '-c', 'sleep 1000; : uscd-orphan-' + {token!r}])\n"
    harness = subprocess.Popen(  # TMPDIR: the killed harness cannot remove its work dir itself
        [sys.executable, "-c", f"from uscd.execution import *; run_program({program!r}, level={level!r})"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 30
        while not processes_with(marker):
            assert time.monotonic() < deadline, "the program never started"
            time.sleep(0.05)
        harness.send_signal(signal.SIGKILL)
        harness.wait()
        deadline = time.monotonic() + 5
        while processes_with(marker):
            assert time.monotonic() < deadline, "the program outlived its harness"
            time.sleep(0.05)
    finally:
        harness.kill()


def test_limits_are_validated():
    with pytest.raises(ValueError, match="cpu_s"):
        Limits(cpu_s=0)
    with pytest.raises(ValueError, match="wall_s"):
        Limits(wall_s=0)
    with pytest.raises(ValueError, match="nproc"):
        Limits(nproc=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cpus"):
        Limits(cpus=0)


def test_spawn_failure_is_an_error_result(monkeypatch):
    monkeypatch.setattr(sandbox._levels, "python_argv", lambda source: ["/nonexistent/python"])
    result = run_program("pass", level="process")
    assert result.status == "error" and result.reason.startswith("cannot start the sandbox")


def test_run_many_stops_early_without_running_everything(level):
    started = []

    def items():
        for i in range(50):
            started.append(i)
            yield i, "import time\ntime.sleep(0.2)\n"

    stream = run_many(items(), workers=1, level=level)
    next(stream)
    stream.close()
    assert len(started) <= 4


def test_guard_tolerates_a_runner_that_already_exec_d():
    """CI once lost the race: the runner set its group and exec'd before the guard's setpgid,
    which then raised EACCES and killed the guard. Recreate that order deterministically."""
    from uscd.execution import _driver

    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        os.execv("/bin/sleep", ["sleep", "5"])
    try:
        for _ in range(500):  # wait until the exec has happened
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{child}/exe").endswith("sleep"):
                    break
            threading.Event().wait(0.01)
        with pytest.raises(PermissionError):
            os.setpgid(child, child)  # the failure the guard used to die of
        _driver._own_group(child)
        assert os.getpgid(child) == child
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
