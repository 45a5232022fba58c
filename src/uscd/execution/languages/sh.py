"""Bash as MultiPL-E's eval_sh: `bash FILE`; exit 0 = OK.

Proof of completion: a line after the tests' `run_test` copies the nonce from fd 3 to fd 4; a
top-level `exit 0` earlier ends the script first.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
IFS= read -r uscd_nonce <&3 || true
printf 'N%s' "$uscd_nonce" >&4
"""


def _files(program: str) -> dict[str, str]:
    return {"main.sh": program + "\n" + EPILOGUE}


SMOKE_GOOD = '#!/bin/bash\nset -e\n[[ $(( 2 + 3 )) = "5" ]]\n'
SMOKE_EARLY_EXIT = "#!/bin/bash\nexit 0\n"

LANGUAGE = Language(
    name="sh",
    source="main.sh",
    tools=(Tool("bash", command="bash"),),
    run=("bash", "main.sh"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
)
