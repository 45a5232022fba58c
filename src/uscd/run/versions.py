"""Versions of what a run depends on, for its config."""

from __future__ import annotations

import platform

from uscd import __version__


def versions() -> dict:
    import numpy

    out = {"uscd": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import llama_cpp

        out["llama_cpp_python"] = llama_cpp.__version__
    except ImportError:
        pass
    return out
