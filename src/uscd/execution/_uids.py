"""Sandbox uids: when the harness runs as root, each run gets a uid of its own.

A uid per run (rather than one shared `nobody`) makes RLIMIT_NPROC a per-run limit, keeps
concurrent runs from signalling or reading each other, and lets the cleanup kill "every process of
this uid" without touching anything else. Leases are flock()ed files, so they hold across threads
and across uscd processes on the same machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

UID_BASE = int(os.environ.get("USCD_SANDBOX_UID_BASE", "64000"))
UID_COUNT = 256
_log = logging.getLogger("uscd.execution")


def running_as_root() -> bool:
    return os.geteuid() == 0


def _lock_dir() -> str:
    base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    path = os.path.join(base, "uscd-sandbox-uids")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def processes_of(uid: int) -> list[int]:
    """Pids with `uid` as real, effective or saved uid (zombies included)."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError), open(f"/proc/{name}/status") as f:
                # /proc/PID's owner is root for non-dumpable processes: only status tells the uid
                for line in f:
                    if line.startswith("Uid:"):
                        if str(uid) in line.split()[1:4]:
                            pids.append(int(name))
                        break
    return pids


def kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid` (kill(-1) as that uid) and wait until they are gone."""
    for _ in range(50):
        if not processes_of(uid):
            return
        subprocess.run(
            ["/bin/sh", "-c", "kill -9 -1"], user=uid, group=uid, extra_groups=[], check=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.02)
    raise RuntimeError(f"processes of sandbox uid {uid} survive SIGKILL")


def _usable(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return False  # a real account: never ours to kill
    except KeyError:
        return not processes_of(uid)


@contextlib.contextmanager
def lease() -> Iterator[int | None]:
    """A uid for one run (None when not root: the program then runs as the harness's own uid)."""
    if not running_as_root():
        yield None
        return
    uid, fd = _acquire()
    try:
        yield uid
    finally:
        try:
            kill_uid(uid)
        except RuntimeError:
            _log.error("sandbox uid %d keeps processes; it stays locked by this process", uid)
            return  # keep the lock fd open: nobody may reuse this uid
        os.close(fd)


def _acquire() -> tuple[int, int]:
    directory = _lock_dir()
    while True:
        start = random.randrange(UID_COUNT)
        for i in range(UID_COUNT):
            uid = UID_BASE + (start + i) % UID_COUNT
            fd = os.open(os.path.join(directory, str(uid)), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if _usable(uid):
                return uid, fd
            os.close(fd)
        time.sleep(0.05)


def kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid` (the harness starts each run in a session of its own;
    the program's process groups stay in it unless it calls setsid)."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid:
                    os.kill(int(name), signal.SIGKILL)
