"""Racket as MultiPL-E's eval_racket: `racket FILE` with rackunit. rackunit only prints failed checks,
so MultiPL-E fails any run that wrote to stderr (or exited non-zero).

Proof of completion: an expression after the tests' `(test-humaneval)` copies the nonce; `(exit 0)`
earlier ends the program first.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool, stderr_not_empty

EPILOGUE = """
(let ([uscd-nonce (call-with-input-file "/proc/self/fd/3" port->bytes)])
  (call-with-output-file "/proc/self/fd/4" #:exists 'append
    (lambda (uscd-done) (write-bytes (bytes-append #"N" uscd-nonce) uscd-done))))
"""


def _files(program: str) -> dict[str, str]:
    return {"main.rkt": program + "\n" + EPILOGUE}


SMOKE_GOOD = "#lang racket\n(require rackunit)\n(check-equal? (+ 2 3) 5)\n"
SMOKE_EARLY_EXIT = "#lang racket\n(exit 0)\n"

LANGUAGE = Language(
    name="rkt",
    source="main.rkt",
    tools=(Tool("racket", command="racket", version_args=("-v",)),),
    run=("racket", "main.rkt"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    address_space_mb=4096,
    etc=("racket",),
    output_failure=stderr_not_empty,
)
