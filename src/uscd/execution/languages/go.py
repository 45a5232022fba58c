"""Go as MultiPL-E's eval_go (`go test FILE`): built with `go test -c`, then the test binary is run.

MultiPL-E's rules: "[setup failed]" / "[build failed]" = SyntaxError, "FAIL" on stdout = Exception.
Proof of completion: a second file in the same package defines TestMain, which writes the nonce only
after `m.Run()` returned 0; `os.Exit(0)` inside a test never gets back there.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from uscd.execution.languages._spec import SANDBOX_PATH, Language, Tool, cache_root

_PACKAGE = re.compile(r"^\s*package\s+(\w+)", re.M)
TEST_MAIN = """package {package}

import (
	"io"
	"os"
	"testing"
)

func TestMain(m *testing.M) {{
	code := m.Run()
	if code == 0 {{
		nonce, _ := io.ReadAll(os.NewFile(3, "nonce"))
		os.NewFile(4, "done").Write(append([]byte("N"), nonce...))
	}}
	os.Exit(code)
}}
"""


def _files(program: str) -> dict[str, str]:
    found = _PACKAGE.search(program)
    files = {"main_test.go": program}
    if found:
        files["uscd_main_test.go"] = TEST_MAIN.format(package=found.group(1))
    return files


ENV = {
    "GOCACHE": "{home}/tmp/go-cache",
    "GOPATH": "{home}/tmp/go",
    "GO111MODULE": "auto",
    "GOFLAGS": "-mod=mod",
}
TRIMPATH = "-trimpath"  # cache keys without the work dir's path: only worth it with the warm cache


@cache
def warm_cache() -> str | None:
    """A folder holding tmp/go-cache after building SMOKE_GOOD (our own test, outside the sandbox).
    Copied into each work dir it saves ~1 s of CPU per `go test -c`: with -trimpath the cached
    standard library and test-main dependencies do not depend on where the program is built."""
    try:
        version = subprocess.run(["go", "version"], capture_output=True, text=True, check=True, timeout=60)
        folder = cache_root() / "go" / re.sub(r"\W+", "-", version.stdout.strip())
        if not (folder / "tmp" / "go-cache").is_dir():
            _build_warm_cache(folder)
        return str(folder)
    except (OSError, subprocess.SubprocessError):
        return None


def _build_warm_cache(folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "tmp" / "go-cache").is_dir():
            return
        with tempfile.TemporaryDirectory(dir=folder.parent) as home:
            Path(home, "tmp").mkdir()
            Path(home, "main_test.go").write_text(SMOKE_GOOD)
            env = {k: v.replace("{home}", home) for k, v in ENV.items()}
            env |= {"PATH": SANDBOX_PATH, "HOME": home}
            build = ["go", "test", "-c", TRIMPATH, "-o", "main.test", "main_test.go"]
            subprocess.run(build, cwd=home, env=env, capture_output=True, check=True, timeout=900)
            seed = Path(home, "seed")
            shutil.copytree(Path(home, "tmp", "go-cache"), seed / "tmp" / "go-cache")
            for path in (seed, *seed.rglob("*")):
                path.chmod(0o755 if path.is_dir() else 0o644)
            os.replace(seed, folder)


def _build_args(program: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """-trimpath when the warm cache exists (else it would rebuild the standard library), then the files."""
    flags = (TRIMPATH,) if warm_cache() else ()
    return (*flags, *_files(program)), ()


def _go_failure(stdout: str, stderr: str) -> str | None:
    return "go test reported FAIL" if "FAIL" in stdout else None


SMOKE_GOOD = (
    "package add_test\n"
    "\n"
    'import "testing"\n'
    "\n"
    "func TestAdd(t *testing.T) {\n"
    "\tif 2+3 != 5 {\n"
    '\t\tt.Errorf("no")\n'
    "\t}\n"
    "}\n"
)
SMOKE_EARLY_EXIT = (
    'package add_test\n\nimport (\n\t"os"\n\t"testing"\n)\n\nfunc TestAdd(t *testing.T) {\n\tos.Exit(0)\n}\n'
)

LANGUAGE = Language(
    name="go",
    source="main_test.go",
    tools=(Tool("golang-go", command="go", version_args=("version",)),),
    compile=("go", "test", "-c", "-o", "main.test"),  # + [-trimpath] and the files: _build_args
    run=("./main.test", "-test.paniconexit0"),  # what `go test` passes: os.Exit(0) in a test panics
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    env=ENV,
    workdir_seed=warm_cache,
    compile_extra=_build_args,
    compile_s=60.0,
    address_space_mb=4096,
    nproc=64,
    output_failure=_go_failure,
    notes="`go test -c` + run instead of `go test` (same build and vet), -trimpath, a warm build cache",
)
