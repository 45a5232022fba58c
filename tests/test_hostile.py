"""Hostile programs: each must be contained, must not pass, and must not hang the run.

Every test runs at both levels; the namespace level is skipped (with the reason) where bubblewrap
does not work. What the process level cannot block (network, world-writable dirs) is skipped
there with a pointer to docs/sandbox.md.
"""

from __future__ import annotations

import os
import secrets
import socket
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from test_sandbox_support import AS_ROOT, FAST, SHORT, UidSpy, level_param, processes_with, zombies_of
from uscd.execution import Limits, run_program

# A hung harness fails the test through this per-test timeout (no wall-clock assertions here).
pytestmark = pytest.mark.timeout(120)

SOLUTION_OK = "def add(a, b):\n    return a + b\n"
SOLUTION_BAD = "def add(a, b):\n    return a - b\n"
TESTS = """
def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0

check(add)
"""


@pytest.fixture(params=["process", "namespace"])
def level(request) -> str:
    return level_param(request)


@pytest.fixture
def spy(monkeypatch) -> UidSpy:
    return UidSpy(monkeypatch)


def run(program: str, level: str, limits: Limits = FAST):
    result = run_program(textwrap.dedent(program), level=level, limits=limits)
    assert result.level == level
    return result


def assert_contained(result, spy: UidSpy, *statuses: str) -> None:
    assert result.status != "pass", result
    if statuses:
        assert result.status in statuses, result
    assert spy.leftovers() == [], "processes of the sandbox uid survived the run"


# --------------------------------------------------------------------------- sanity


def test_correct_program_passes(level):
    result = run(SOLUTION_OK + TESTS, level)
    assert result.status == "pass", result
    assert result.exit_code == 0 and result.reason == ""


def test_wrong_program_fails_with_assertion(level):
    result = run(SOLUTION_BAD + TESTS, level)
    assert result.status == "fail"
    assert result.reason.startswith("AssertionError"), result.reason
    assert "AssertionError" in result.stderr_tail


# --------------------------------------------------------------------------- resources


def test_fork_bomb(level, spy):
    result = run(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
        level,
        SHORT,
    )
    assert_contained(result, spy, "timeout", "fail")
    assert zombies_of(spy.uids) == []


def test_memory_bomb(level, spy):
    result = run("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", level)
    assert_contained(result, spy, "fail")
    assert result.reason == "MemoryError"


def test_single_huge_allocation(level, spy):
    result = run("x = bytearray(8 * 1024**3)\n", level)
    assert_contained(result, spy, "fail")
    assert result.reason.startswith("MemoryError")


def test_infinite_loop_hits_cpu_limit(level, spy):
    # a wall clock well past the CPU limit: on a loaded machine 1 s of CPU takes several seconds
    result = run("while True:\n    pass\n", level, replace(SHORT, wall_s=8.0))
    assert_contained(result, spy, "timeout")
    assert result.reason.startswith("cpu limit")


def test_cpu_limit_with_sigxcpu_ignored(level, spy):
    # the hard limit (soft + 1 s) then kills with SIGKILL, unless the wall clock comes first
    program = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    assert_contained(run(program, level, SHORT), spy, "timeout")


@pytest.mark.parametrize("stream", ["sys.stdout", "sys.stderr"])
def test_output_flood(level, spy, stream):
    result = run(f"import sys\nwhile True:\n    {stream}.write('x' * 65536)\n", level)
    assert_contained(result, spy, "fail")
    assert result.reason.startswith("output limit exceeded")
    assert len(result.stdout_tail) <= 4096 and len(result.stderr_tail) <= 4096


def test_output_flood_ignoring_broken_pipe(level, spy):
    program = """
    import os
    while True:
        try:
            os.write(1, b'x' * 65536)
        except OSError:
            pass
    """
    result = run(program, level, SHORT)
    assert_contained(result, spy, "timeout", "fail")


def test_large_file_is_capped(level, spy):
    result = run("with open('big', 'wb') as f:\n    f.write(b'x' * (64 << 20))\n", level)
    assert_contained(result, spy, "fail")


def test_sleep_forever(level, spy):
    result = run("import time\ntime.sleep(10**6)\n", level, SHORT)
    assert_contained(result, spy, "timeout")
    assert result.reason.startswith("wall timeout")  # the guard's own clock ended it


def test_sleep_ignoring_signals(level, spy):
    program = """
    import signal, time
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, signal.SIG_IGN)
    time.sleep(10**6)
    """
    assert_contained(run(program, level, SHORT), spy, "timeout")


def test_stdin_is_closed(level, spy):
    result = run("input()\n", level)
    assert_contained(result, spy, "fail")
    assert result.reason.startswith("EOFError")
    assert run("import sys\nassert sys.stdin.read() == ''\n", level).status == "pass"


def test_daemonised_child_is_killed(level, spy):
    marker = f"uscd-daemon-{secrets.token_hex(6)}"
    program = f"""
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv('/bin/sh', ['sh', '-c', 'trap "" HUP TERM; sleep 1000; : {marker}'])
        os._exit(0)
    time.sleep(0.2)
    assert False, 'tests fail so that the run cannot pass'
    """
    result = run(program, level)
    assert_contained(result, spy, "fail")
    assert processes_with(marker) == []
    assert zombies_of(spy.uids) == []


def test_daemon_outliving_a_passing_program_is_killed(level, spy):
    marker = f"uscd-daemon-{secrets.token_hex(6)}"
    program = f"""
    import os
    if os.fork() == 0:
        os.setsid()
        os.execv('/bin/sh', ['sh', '-c', 'sleep 1000; : {marker}'])
    """
    result = run(SOLUTION_OK + textwrap.dedent(program) + TESTS, level)
    assert result.status == "pass", result  # the tests did run to the end
    assert processes_with(marker) == []
    assert spy.leftovers() == []


# --------------------------------------------------------------------------- escapes


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    yield server
    server.close()


def test_network_is_unreachable(level, spy, listener):
    if level == "process":
        pytest.skip("the process level does not isolate the network (docs/sandbox.md)")
    port = listener.getsockname()[1]
    program = f"""
    import socket
    reached = []
    for target in [("127.0.0.1", {port}), ("1.1.1.1", 53)]:
        try:
            socket.create_connection(target, timeout=1).close()
            reached.append(target)
        except OSError as exc:
            print(target, type(exc).__name__, exc)
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("1.1.1.1", 53))
        reached.append("udp")
    except OSError as exc:
        print("udp", type(exc).__name__, exc)
    assert not reached, reached
    """
    result = run(program, level)
    assert result.status == "pass", result  # every attempt failed inside the sandbox
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_writes_outside_the_work_dir_do_not_land(level, spy):
    token = secrets.token_hex(6)
    targets = [f"/root/uscd-x-{token}", f"/etc/uscd-x-{token}", f"/usr/uscd-x-{token}"]
    if level == "namespace":
        targets += [f"/tmp/uscd-x-{token}", f"/var/tmp/uscd-x-{token}", f"/dev/shm/uscd-x-{token}"]
    elif not AS_ROOT:
        pytest.skip("the process level as non-root runs as your own uid (docs/sandbox.md)")
    program = f"""
    written = []
    for path in {targets!r}:
        try:
            with open(path, "w") as f:
                f.write("pwned")
            written.append(path)
        except OSError:
            pass
    assert False, written
    """
    try:
        result = run(program, level)
        assert_contained(result, spy, "fail")
        assert [t for t in targets if os.path.exists(t)] == []
    finally:
        for target in targets:
            if os.path.exists(target):
                os.remove(target)


def test_home_secrets_are_not_readable(level, spy):
    if level == "process" and not AS_ROOT:
        pytest.skip("the process level as non-root runs as your own uid (docs/sandbox.md)")
    secret = secrets.token_hex(16)
    path = Path.home() / f".uscd-test-secret-{secrets.token_hex(4)}"
    path.write_text(secret)
    path.chmod(0o600)
    program = f"""
    import glob, os
    found = []
    for candidate in [{str(path)!r}, *glob.glob(os.path.expanduser("~/.uscd-test-secret-*")),
                      *glob.glob("/root/.uscd-test-secret-*"), *glob.glob("/home/*/.uscd-test-secret-*")]:
        try:
            found.append(open(candidate).read())
        except OSError as exc:
            print(candidate, exc)
    print(found, os.environ)
    """
    try:
        result = run(program, level)
        assert secret not in result.stdout_tail + result.stderr_tail
        assert f"'HOME': '{Path.home()}'" not in result.stdout_tail
    finally:
        path.unlink()


def test_environment_is_scrubbed(level, spy, monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("USCD_TEST_SECRET_TOKEN", "s3cr3t")
    result = run("import os\nprint(sorted(os.environ.items()))\n", level)
    assert result.status == "pass"
    assert "proxy" not in result.stdout_tail and "s3cr3t" not in result.stdout_tail
    assert "'HOME', '/root'" not in result.stdout_tail


def test_runs_unprivileged(level, spy):
    if not AS_ROOT:
        pytest.skip("only meaningful when the harness runs as root")
    program = """
    import os
    assert os.getuid() != 0 and os.geteuid() != 0 and os.getgid() != 0 and os.getgroups() == []
    status = open("/proc/self/status").read()
    assert "CapEff:\\t0000000000000000" in status, status
    assert "NoNewPrivs:\\t1" in status
    """
    result = run(program, level)
    assert result.status == "pass", result


# --------------------------------------------------------------------------- fake passes


EARLY_EXITS = {
    "os._exit(0)": "import os\nos._exit(0)\n",
    "sys.exit(0)": "import sys\nsys.exit(0)\n",
    "sys.exit()": "import sys\nsys.exit()\n",
    "quit()": "quit()\n",
    "exit()": "exit()\n",
    "raise SystemExit": "raise SystemExit(0)\n",
    "SystemExit subclass": "class Done(SystemExit):\n    pass\nraise Done(0)\n",
    "execv true": "import os\nos.execv('/bin/true', ['true'])\n",
    "atexit + exit": "import atexit, os\natexit.register(lambda: os._exit(0))\nraise SystemExit(0)\n",
}


@pytest.mark.parametrize("trick", sorted(EARLY_EXITS))
def test_early_exit_is_not_a_pass(level, spy, trick):
    result = run(SOLUTION_BAD + EARLY_EXITS[trick] + TESTS, level)
    assert_contained(result, spy, "fail")
    assert result.reason.startswith("exited before the tests finished"), result.reason


def test_killing_the_parent(level, spy):
    program = """
    import os, signal
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    os._exit(0)
    """
    assert_contained(run(SOLUTION_BAD + textwrap.dedent(program) + TESTS, level), spy, "fail")


def test_kill_everything(level, spy):
    if not AS_ROOT:
        pytest.skip("kill(-1) is only harmless when the sandbox has a uid of its own (root harness)")
    program = "import os, signal\nos.kill(-1, signal.SIGKILL)\nos._exit(0)\n"
    assert_contained(run(SOLUTION_BAD + program + TESTS, level), spy, "fail")


def test_rebinding_check_does_not_help(level, spy):
    hack = """
    def check(candidate):
        pass
    import builtins
    builtins.check = check
    builtins.AssertionError = type('Quiet', (Exception,), {})
    """
    result = run(SOLUTION_BAD + textwrap.dedent(hack) + TESTS, level)
    assert_contained(result, spy, "fail")
    assert result.reason.startswith("AssertionError")


def test_printing_a_guessed_marker(level, spy):
    program = """
    import os, sys
    guesses = ["PASS", "OK", "passed", "ALL TESTS PASSED", "0" * 32, os.urandom(16).hex()]
    for g in guesses:
        print(g)
        print(g, file=sys.stderr)
        for fd in range(3, 64):
            for data in (g, "N" + g, "RN" + g):
                try:
                    os.write(fd, data.encode())
                except OSError:
                    pass
    os._exit(0)
    """
    assert_contained(run(SOLUTION_BAD + textwrap.dedent(program) + TESTS, level), spy, "fail")


def test_hunting_for_the_nonce(level, spy):
    """Look everywhere a nonce might leak (source, argv, environ, fds, parent), replay every candidate."""
    program = r"""
    import glob, os, re, sys
    blobs = [open(__file__, "rb").read(), repr(sys.argv).encode(), repr(os.environ).encode()]
    for path in ["/proc/self/cmdline", "/proc/self/environ", "/proc/%d/cmdline" % os.getppid(),
                 "/proc/%d/environ" % os.getppid(), *glob.glob("*"), *glob.glob("/tmp/*")]:
        try:
            blobs.append(open(path, "rb").read())
        except OSError:
            pass
    for fd in range(3, 64):
        try:
            os.set_blocking(fd, False)
            blobs.append(os.read(fd, 4096))
        except OSError:
            pass
    candidates = [m.decode() for blob in blobs for m in re.findall(rb"[0-9a-f]{32}", blob)]
    # One shot: the done pipe must hold exactly the nonce, so replay the likeliest candidate only.
    for fd in range(3, 64):
        try:
            os.write(fd, ("N" + candidates[0]).encode())
        except (OSError, IndexError):
            pass
    print(len(candidates), "candidates")
    os._exit(0)
    """
    result = run(SOLUTION_BAD + textwrap.dedent(program) + TESTS, level)
    assert_contained(result, spy, "fail")


@pytest.mark.xfail(strict=True, reason="in-process tampering with the test's own values is out of scope")
def test_always_equal_object_is_a_known_limit(level):
    hack = "class Any:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Any()\n"
    assert run(hack + TESTS, level).status != "pass"
