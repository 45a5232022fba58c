"""R as MultiPL-E's eval_r: `Rscript FILE`; exit 0 = OK (stopifnot fails with status 1).

Proof of completion: a `local()` block after the tests' `test_humaneval()` copies the nonce from
/proc/self/fd/3 to /proc/self/fd/4; `quit(status = 0)` earlier never gets there.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
local({
    uscd_in <- file("/proc/self/fd/3", "rb")
    uscd_nonce <- readBin(uscd_in, "raw", 4096L)
    close(uscd_in)
    uscd_done <- file("/proc/self/fd/4", "wb")
    writeBin(c(charToRaw("N"), uscd_nonce), uscd_done)
    close(uscd_done)
})
"""


def _files(program: str) -> dict[str, str]:
    return {"main.r": program + "\n" + EPILOGUE}


SMOKE_GOOD = "stopifnot(isTRUE(all.equal(2 + 3, 5)))\n"
SMOKE_EARLY_EXIT = "quit(status = 0)\n"

LANGUAGE = Language(
    name="r",
    source="main.r",
    tools=(Tool("r-base-core", command="Rscript"),),
    run=("Rscript", "main.r"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    address_space_mb=2048,
    etc=("R",),
)
