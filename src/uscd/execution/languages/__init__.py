"""One module per MultiPL-E language: toolchain, compile and run steps, limits, proof of completion.

Python is not here: it runs through the in-process driver (uscd.execution.sandbox). See
docs/sandbox.md ("Other languages") for the protocol and docs/multipl-e.md for the semantics.
"""

from __future__ import annotations

from importlib import import_module

from uscd.errors import UscdError
from uscd.execution.languages._spec import Language, Tool

_MODULES = (
    "cpp",
    "cs",
    "d",
    "go",
    "java",
    "js",
    "lua",
    "php",
    "pl",
    "r",
    "rb",
    "rkt",
    "rs",
    "scala",
    "sh",
    "ts",
)
# The paper's MultiPL-E languages that Debian 12 cannot run (and MultiPL-E's others we do not).
UNSUPPORTED = {
    "jl": "Julia is not packaged in Debian 12 (removed after bullseye) and not on PyPI or npm",
    "swift": "Swift is not packaged in Debian 12 (the `swift` package is OpenStack's object store)",
    "elixir": "not one of the paper's languages; not wired",
    "hs": "not one of the paper's languages; not wired",
    "ml": "not one of the paper's languages; not wired",
}


class ToolchainMissing(UscdError):
    """A language's compiler, interpreter or test library is not installed."""


class UnsupportedLanguage(UscdError, ValueError):
    """No execution for this language (unknown, or no toolchain on Debian 12)."""


def names() -> tuple[str, ...]:
    return _MODULES


def get(name: str) -> Language:
    if name not in _MODULES:
        why = UNSUPPORTED.get(name, "unknown language")
        raise UnsupportedLanguage(f"language {name!r} cannot be executed: {why}")
    return import_module(f"uscd.execution.languages.{name}").LANGUAGE


def install_hint(tools: list[Tool]) -> str:
    debian = sorted({t.package for t in tools if not t.package.startswith("npm:")})
    npm = sorted({t.package[4:] for t in tools if t.package.startswith("npm:")})
    parts = [f"apt-get install {' '.join(debian)}"] if debian else []
    parts += [f"npm install -g {' '.join(npm)}"] if npm else []
    return " and ".join(parts) + " (or run scripts/install-system-deps.sh)"


def require(name: str) -> Language:
    """The language, or ToolchainMissing naming what to install."""
    language = get(name)
    missing = language.missing()
    if missing:
        labels = ", ".join(t.label for t in missing)
        raise ToolchainMissing(f"{name}: {labels} not found; install with {install_hint(missing)}")
    return language


__all__ = [
    "UNSUPPORTED",
    "Language",
    "Tool",
    "ToolchainMissing",
    "UnsupportedLanguage",
    "get",
    "install_hint",
    "names",
    "require",
]
