"""Scala as MultiPL-E's eval_scala: `scalac -d OUT FILE`, `scala -cp OUT Problem`; OK needs exit 0 and an
empty stderr. Debian 12 ships Scala 2.11 (MultiPL-E's image: whatever its Dockerfile installs).

Proof of completion: object UscdMain calls Problem.main and then writes the nonce; the run starts it.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool, stderr_not_empty

EPILOGUE = """
object UscdMain {
    def main(args: Array[String]): Unit = {
        Problem.main(args)
        val nonce = java.nio.file.Files.readAllBytes(java.nio.file.Paths.get("/proc/self/fd/3"))
        val done = new java.io.FileOutputStream("/proc/self/fd/4", true)
        done.write(Array[Byte]('N'.toByte) ++ nonce)
        done.close()
    }
}
"""


def _files(program: str) -> dict[str, str]:
    return {"main.scala": program + "\n" + EPILOGUE}


SMOKE_GOOD = "object Problem {\n    def main(args: Array[String]) = {\n        assert(2 + 3 == 5)\n    }\n}\n"
SMOKE_EARLY_EXIT = (
    "object Problem {\n    def main(args: Array[String]) = {\n        System.exit(0)\n    }\n}\n"
)

LANGUAGE = Language(
    name="scala",
    source="main.scala",
    tools=(
        Tool("scala", command="scalac", version_args=("-version",)),
        Tool("scala", command="scala", version_args=("-version",)),
    ),
    compile=("scalac", "-d", ".", "main.scala"),
    run=("scala", "-cp", ".", "UscdMain"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    compile_s=120.0,
    address_space_mb=8192,
    nproc=128,
    env={"JAVA_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"},  # startup speed only
    etc=("java-17-openjdk", "scala"),
    output_failure=stderr_not_empty,
)
