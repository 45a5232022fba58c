"""JavaScript as MultiPL-E's eval_javascript: `node FILE`; exit 0 = OK.

Proof of completion: a statement after the tests' `test();` copies the nonce from fd 3 to fd 4.
`process.exit(0)` before it ends the process first.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
;(function () {
  const uscdFs = require("fs");
  uscdFs.writeSync(4, "N" + uscdFs.readFileSync(3, "latin1"));
})();
"""


def _files(program: str) -> dict[str, str]:
    return {"main.js": program + "\n" + EPILOGUE}


SMOKE_GOOD = "const assert = require('node:assert');\nassert.deepEqual(2 + 3, 5);\n"
SMOKE_EARLY_EXIT = "process.exit(0);\n"

LANGUAGE = Language(
    name="js",
    source="main.js",
    tools=(Tool("nodejs", command="node"),),
    run=("node", "main.js"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    address_space_mb=4096,
    nproc=32,
)
