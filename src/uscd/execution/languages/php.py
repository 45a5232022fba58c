"""PHP as MultiPL-E's eval_php: `php FILE`; "PHP Parse error" on stdout = SyntaxError, exit != 0 = Exception.

Proof of completion: a closure after the tests' `test();` copies the nonce (php://fd/3 -> php://fd/4).
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
(function () {
    $uscd_nonce = stream_get_contents(fopen("php://fd/3", "rb"));
    $uscd_done = fopen("php://fd/4", "wb");
    fwrite($uscd_done, "N" . $uscd_nonce);
    fclose($uscd_done);
})();
"""


def _files(program: str) -> dict[str, str]:
    return {"main.php": program + "\n" + EPILOGUE}


SMOKE_GOOD = '<?php\nif (2 + 3 !== 5) { throw new Exception("Test failed!"); }\n'
SMOKE_EARLY_EXIT = "<?php\nexit(0);\n"

LANGUAGE = Language(
    name="php",
    source="main.php",
    tools=(Tool("php-cli", command="php", version_args=("-v",)),),
    run=("php", "main.php"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    etc=("php", "alternatives"),
)
