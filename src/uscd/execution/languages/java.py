"""Java as MultiPL-E's eval_java: `javac -encoding UTF8 -d OUT FILE`, `java -ea -cp OUT:javatuples Problem`.

Proof of completion: a second top-level class `UscdMain` calls `Problem.main(args)` and then writes the
nonce; `System.exit(0)` inside Problem never returns to it. The run starts `UscdMain`.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

JAVATUPLES = "/usr/share/java/javatuples.jar"
EPILOGUE = """
class UscdMain {
    public static void main(String[] args) throws Exception {
        Problem.main(args);
        byte[] nonce = java.nio.file.Files.readAllBytes(java.nio.file.Paths.get("/proc/self/fd/3"));
        byte[] proof = new byte[nonce.length + 1];
        proof[0] = 'N';
        System.arraycopy(nonce, 0, proof, 1, nonce.length);
        try (java.io.FileOutputStream done = new java.io.FileOutputStream("/proc/self/fd/4", true)) {
            done.write(proof);
        }
    }
}
"""
# Startup flags only (a 2-core box, one JVM per program): no effect on what a program computes.
JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto")


def _files(program: str) -> dict[str, str]:
    return {"Main.java": program + "\n" + EPILOGUE}


SMOKE_GOOD = (
    "class Problem {\n    public static void main(String[] args) {\n        assert(2 + 3 == 5);\n    }\n}\n"
)
SMOKE_EARLY_EXIT = (
    "class Problem {\n    public static void main(String[] args) {\n        System.exit(0);\n    }\n}\n"
)

LANGUAGE = Language(
    name="java",
    source="Main.java",
    tools=(
        Tool("default-jdk-headless", command="javac", version_args=("-version",)),
        Tool("default-jdk-headless", command="java", version_args=("-version",)),
        Tool("libjavatuples-java", path=JAVATUPLES),
    ),
    compile=("javac", *(f"-J{f}" for f in JVM_FLAGS), "-encoding", "UTF8", "-d", ".", "Main.java"),
    run=("java", "-ea", *JVM_FLAGS, "-cp", f".:{JAVATUPLES}", "UscdMain"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    env={"CLASSPATH": JAVATUPLES},
    compile_s=60.0,
    address_space_mb=8192,
    nproc=128,
    etc=("alternatives", "java-17-openjdk"),
    notes="runs UscdMain (calls Problem.main, then the proof); JVM startup flags for speed",
)
