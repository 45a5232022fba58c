"""TypeScript as MultiPL-E's eval_ts: `tsc --target esnext FILE` (a type error is a compile error), then
`node FILE.js`; exit 0 = OK.

Proof of completion: as for JavaScript, appended to the .ts source (it type-checks: the tests declare
`require: any`).
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
;(function () {
  const uscdFs: any = require("fs");
  uscdFs.writeSync(4, "N" + uscdFs.readFileSync(3, "latin1"));
})();
"""


def _files(program: str) -> dict[str, str]:
    return {"main.ts": program + "\n" + EPILOGUE}


SMOKE_GOOD = (
    "declare var require: any;\nconst assert = require('node:assert');\nassert.deepEqual(2 + 3, 5);\n"
)
SMOKE_EARLY_EXIT = "declare var process: any;\nprocess.exit(0);\n"

LANGUAGE = Language(
    name="ts",
    source="main.ts",
    tools=(Tool("npm:typescript", command="tsc", version_args=("-v",)), Tool("nodejs", command="node")),
    compile=("tsc", "--target", "esnext", "--skipLibCheck", "main.ts"),
    run=("node", "main.js"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    compile_s=60.0,
    address_space_mb=4096,
    nproc=32,
)
