"""C++ as MultiPL-E's eval_cpp: `g++ FILE -o BASE -std=c++17`, run BASE; exit 0 = OK, else Exception.

Proof of completion: the tests' `int main() {` becomes `void uscd_tests_main() {` and a new `main`
calls it, then writes the nonce. Speed: every prompt includes <bits/stdc++.h>, so a precompiled
header for it (built once per g++ version, outside the sandbox: it is a system header) is forced in
with `-include`; the prompt's own `#include` then re-reads only guarded headers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from uscd.execution.languages._spec import Language, Tool, cache_root, nonce_epilogue_c, replace_last

TESTS_MAIN = "int main() {"
STDCXX = "bits/stdc++.h"
FLAGS = ("-std=c++17",)
EPILOGUE = (
    "\n#include <unistd.h>\nint main() {\n    uscd_tests_main();\n"
    + nonce_epilogue_c()
    + "    return 0;\n}\n"
)


def _files(program: str) -> dict[str, str]:
    renamed = replace_last(program, TESTS_MAIN, "void uscd_tests_main() {")
    return {"main.cpp": program if renamed is None else renamed + EPILOGUE}


def _uses_stdcxx(program: str) -> bool:
    head = program[:400].replace(" ", "")
    return f"#include<{STDCXX}>" in head


@cache
def precompiled_header() -> str | None:
    """Directory holding bits/stdc++.h.gch for this g++ (built on first use); None if it cannot be built."""
    try:
        version = subprocess.run(["g++", "-dumpfullversion"], capture_output=True, text=True, check=True)
        folder = cache_root() / "pch" / f"gcc-{version.stdout.strip()}-cxx17-v1"
        target = folder / (STDCXX + ".gch")
        if not target.exists():
            _build_pch(folder, target)
        return str(folder)
    except (OSError, subprocess.SubprocessError):
        return None


def _build_pch(folder: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for directory in (folder.parent.parent, folder.parent, folder, target.parent):
        with contextlib.suppress(OSError):
            directory.chmod(0o755)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return
        with tempfile.TemporaryDirectory() as tmp:
            wrapper = Path(tmp, "stdcxx.h")
            wrapper.write_text(f"#include <{STDCXX}>\n")
            out = Path(tmp, "out.gch")
            subprocess.run(
                ["g++", *FLAGS, "-x", "c++-header", str(wrapper), "-o", str(out)], check=True, timeout=300
            )
            out.chmod(0o644)
            # The prompt's own #include finds this folder first (the .gch cannot serve twice): hand over.
            forward = target.with_suffix("")
            forward.write_text(f"#include_next <{STDCXX}>\n")
            forward.chmod(0o644)
            os.replace(out, target)


def _pch_args(program: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    folder = precompiled_header() if _uses_stdcxx(program) else None
    if folder is None:
        return (), ()
    return ("-I", folder, "-include", STDCXX), (folder,)


SMOKE_GOOD = (
    "#include <cassert>\n"
    "long add(long x, long y) { return x + y; }\n"
    "int main() {\n"
    "    assert(add(2, 3) == 5);\n"
    "}\n"
)
SMOKE_EARLY_EXIT = "#include <cstdlib>\nint main() {\n    std::exit(0);\n}\n"

LANGUAGE = Language(
    name="cpp",
    source="main.cpp",
    tools=(Tool("g++", command="g++"),),
    compile=("g++", "main.cpp", "-o", "main", *FLAGS),
    run=("./main",),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    compile_s=30.0,
    compile_extra=_pch_args,
    notes="precompiled <bits/stdc++.h> forced in first (every prompt includes it)",
)
