"""D as MultiPL-E's eval_dlang (`rdmd -unittest FILE`): Debian 12 has no rdmd, so LDC compiles with
`-unittest` and the binary is run (what rdmd does, in two steps). Exit 0 = OK.

Proof of completion: the tests end in `void main(){}`; with `--DRT-testmode=run-main` druntime runs it
only after every unittest block passed (by default it skips main), and its body becomes the nonce copy.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool, replace_last

PROOF_MAIN = """void main() {
    import core.sys.posix.unistd : read, write;
    ubyte[80] uscd_proof;
    uscd_proof[0] = 'N';
    auto uscd_got = read(3, uscd_proof.ptr + 1, uscd_proof.length - 1);
    if (uscd_got > 0) write(4, uscd_proof.ptr, uscd_got + 1);
}
"""


def _files(program: str) -> dict[str, str]:
    replaced = replace_last(program, "void main(){}", PROOF_MAIN)
    return {"main.d": program if replaced is None else replaced}


SMOKE_GOOD = "unittest\n{\n    assert(2 + 3 == 5);\n}\nvoid main(){}\n"
SMOKE_EARLY_EXIT = "import core.stdc.stdlib : exit;\nunittest\n{\n    exit(0);\n}\nvoid main(){}\n"

LANGUAGE = Language(
    name="d",
    source="main.d",
    tools=(Tool("ldc", command="ldc2"),),
    compile=("ldc2", "-unittest", "main.d", "-of=main"),
    run=("./main", "--DRT-testmode=run-main"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    compile_s=60.0,
    address_space_mb=4096,
    etc=("ldc2.conf",),
    notes="ldc2 -unittest + run instead of rdmd -unittest (Debian 12 has no rdmd)",
)
