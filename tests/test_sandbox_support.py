"""Shared helpers for the sandbox and hostile tests (it holds no tests itself)."""

from __future__ import annotations

import contextlib
import os

import pytest

from uscd.execution import Limits, _uids, available_level

# Small limits keep the hostile suite fast; wall_s leaves room for a loaded CI machine.
FAST = Limits(
    cpu_s=2, wall_s=4.0, address_space_mb=512, file_size_mb=4, nproc=16, nofile=64, output_bytes=1 << 16
)
SHORT = Limits(
    cpu_s=1, wall_s=1.5, address_space_mb=512, file_size_mb=4, nproc=16, nofile=64, output_bytes=1 << 16
)
AS_ROOT = os.geteuid() == 0


def namespace_problem() -> str:
    """'' when the namespace level works here, else why not."""
    if available_level("auto") == "namespace":
        return ""
    from uscd.execution import sandbox

    return sandbox._level_cache.get("probe", "unknown")


def level_param(request) -> str:
    level = request.param
    if level == "namespace" and (problem := namespace_problem()):
        pytest.skip(f"namespace level unusable here: {problem}")
    return level


class UidSpy:
    """Records the sandbox uid each run leased (root only), to look for leftovers afterwards."""

    def __init__(self, monkeypatch):
        self.uids: list[int | None] = []
        real = _uids.lease

        @contextlib.contextmanager
        def spy():
            with real() as uid:
                self.uids.append(uid)
                yield uid

        monkeypatch.setattr(_uids, "lease", spy)

    def leftovers(self) -> list[int]:
        return [pid for uid in self.uids if uid is not None for pid in _uids.processes_of(uid)]


def processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{name}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(name))
    return found


def zombies_of(uids: list[int | None]) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
                if fields["State"].split()[0] == "Z" and int(fields["Uid"].split()[0]) in uids:
                    found.append(int(name))
    return found
