"""Isolation levels: how the driver is started (plain process, or inside bubblewrap)."""

from __future__ import annotations

import os
import shutil
import site
import sys
import sysconfig
from functools import cache

SANDBOX_DIR = "/sandbox"  # where the work dir appears inside the namespace level
LEVELS = ("namespace", "process")
# Files under /etc that programs may reasonably need; /etc as a whole (passwd, shadow, ssh, ...) stays out.
_ETC_FILES = ("ld.so.cache", "localtime", "nsswitch.conf", "mime.types")
_TOP_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@cache
def python_paths() -> tuple[str, ...]:
    """Directories that hold the interpreter, its stdlib and its site-packages."""
    candidates = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *site_packages(),
    ]
    real = sorted({os.path.realpath(p) for p in candidates if os.path.isdir(p)})
    return tuple(p for p in real if not any(p.startswith(q + "/") for q in real if q != p))


@cache
def site_packages() -> tuple[str, ...]:
    """site-packages of this interpreter: `-S` skips site.py (40 ms of .pth processing), so the
    driver adds these itself. Editable installs that rely on .pth files are therefore not seen."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    paths.update(p for p in site.getsitepackages() if os.path.isdir(p))
    return tuple(sorted(p for p in paths if os.path.isdir(p)))


@cache
def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def python_argv(driver_source: str) -> list[str]:
    # -I without its -E: the harness sets the whole environment itself, and PYTHONHASHSEED=0 there
    # makes set/dict-of-str order (and so a program's output) the same on every run.
    # -s: no user site; -P: no cwd on sys.path; -S: no site.py (the driver adds site-packages); -B: no .pyc.
    return [sys.executable, "-s", "-P", "-S", "-B", "-c", driver_source]


def _root_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _TOP_DIRS:
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", "/etc"]  # searchable: a denied lookup is fatal to perl and node
    for name in _ETC_FILES:
        args += ["--ro-bind-try", "/etc/" + name, "/etc/" + name]
    return args


def _bound(path: str) -> bool:
    return any(path == t or path.startswith(t + "/") for t in ("/usr", *("/" + n for n in _TOP_DIRS)))


def _python_binds(extra: tuple[str, ...] = ()) -> list[str]:
    args: list[str] = []
    made: set[str] = set()
    for path in (*python_paths(), *extra):
        if _bound(path):
            continue
        parts = path.split("/")
        for i in range(2, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in made and not _bound(parent) and parent != "/tmp":
                # bwrap would create missing parents as 0700 root: unsearchable for the sandbox uid
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        args += ["--ro-bind", path, path]
    return args


def bwrap_argv(workdir: str, as_root: bool, extra_ro: tuple[str, ...] = ()) -> list[str]:
    """bwrap options; the driver's argv follows. As root we make no user namespace (the driver
    then switches to the sandbox uid itself, a real host uid); otherwise bwrap needs one."""
    if as_root:
        unshare = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        unshare += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        unshare = ["--unshare-all"]
    return [
        bwrap_path() or "bwrap",
        *unshare,
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        *_root_binds(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        workdir,
        SANDBOX_DIR,
        "--bind",
        os.path.join(workdir, "tmp"),
        "/tmp",
        *_python_binds(tuple(p for p in extra_ro if os.path.exists(p))),  # after /tmp (venvs under /tmp)
        "--chdir",
        SANDBOX_DIR,
        "--",
    ]
