"""What the stages report while they work; the CLI shows it (rich), the library stays silent."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, label: str, total: int, done: int, passed: int = 0, executed: int = 0) -> None:
        """A new bar: `done` of `total` items already finished before this invocation."""

    def advance(self, passed: bool | None, extra: str = "") -> None:
        """One item finished; `passed` None when it was not executed (generation only)."""

    def warn(self, message: str) -> None: ...


class Silent:
    def start(self, label: str, total: int, done: int, passed: int = 0, executed: int = 0) -> None:
        pass

    def advance(self, passed: bool | None, extra: str = "") -> None:
        pass

    def warn(self, message: str) -> None:
        import warnings

        warnings.warn(message, RuntimeWarning, stacklevel=2)
