"""Go as MultiPL-E's eval_go (`go test FILE`): built with `go test -c`, then the test binary is run.

MultiPL-E's rules: "[setup failed]" / "[build failed]" = SyntaxError, "FAIL" on stdout = Exception.
Proof of completion: a second file in the same package defines TestMain, which writes the nonce only
after `m.Run()` returned 0; `os.Exit(0)` inside a test never gets back there.
"""

from __future__ import annotations

import re

from uscd.execution.languages._spec import Language, Tool

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
    compile=("go", "test", "-c", "-o", "main.test", "main_test.go", "uscd_main_test.go"),
    run=("./main.test",),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    env={"GOCACHE": "/tmp/go-cache", "GOPATH": "/tmp/go", "GO111MODULE": "auto", "GOFLAGS": "-mod=mod"},
    compile_s=60.0,
    address_space_mb=4096,
    nproc=64,
    output_failure=_go_failure,
    notes="`go test -c` + run instead of `go test` (same build, same test binary; compile time separate)",
)
