"""Rust as MultiPL-E's eval_rust: `rustc FILE -o BASE` (no --edition: rustc's default, 2015), run BASE.

Proof of completion: the tests' `fn main() {` becomes `fn uscd_tests_main() {`; a new `main` calls it
and then writes the nonce. `std::process::exit(0)` inside the tests never gets back to it.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool, replace_last

EPILOGUE = """
fn main() {
    use std::io::{Read, Write};
    use std::os::unix::io::FromRawFd;
    uscd_tests_main();
    let mut proof = vec![b'N'];
    let mut nonce_in = unsafe { std::fs::File::from_raw_fd(3) };
    nonce_in.read_to_end(&mut proof).unwrap();
    let mut done = unsafe { std::fs::File::from_raw_fd(4) };
    done.write_all(&proof).unwrap();
}
"""


def _files(program: str) -> dict[str, str]:
    renamed = replace_last(program, "fn main() {", "fn uscd_tests_main() {")
    return {"main.rs": program if renamed is None else renamed + EPILOGUE}


SMOKE_GOOD = "fn add(x: i64, y: i64) -> i64 { x + y }\nfn main() {\n    assert_eq!(add(2, 3), 5);\n}\n"
SMOKE_EARLY_EXIT = "fn main() {\n    std::process::exit(0);\n}\n"

LANGUAGE = Language(
    name="rs",
    source="main.rs",
    tools=(Tool("rustc", command="rustc"),),
    compile=("rustc", "main.rs", "-o", "main"),
    run=("./main",),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    compile_s=30.0,
    env={"RUST_BACKTRACE": "0"},  # an ICE's panic message, not its backtrace, in the stderr tail
    nproc=64,  # rustc 1.63 starts codegen workers per core it sees (~10 threads on 2 cores): 16 tipped
    # it into an ICE ("failed to spawn thread") in CI
)
