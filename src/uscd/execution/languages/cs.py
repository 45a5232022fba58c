"""C# as MultiPL-E's eval_cs, with Debian's Mono: MultiPL-E runs `csc /d:DEBUG -r:System.Numerics.dll`;
Debian 12 ships no csc (Roslyn), so Mono's `mcs` compiles with the same options. Run: `mono BINARY`
with MONO_TRACE_LISTENER=Console.Error; Debug.Assert failures only print, so MultiPL-E fails a run
whose stderr shows "System.Diagnostics.DefaultTraceListener.Fail" or "Unhandled Exception".

Proof of completion: class UscdMain calls Problem.Main and then writes the nonce; the binary is built
with `-main:UscdMain`. `Environment.Exit(0)` earlier never returns to it.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
class UscdMain {
    public static void Main(string[] args) {
        Problem.Main(args);
        var nonceIn = new System.IO.FileStream(
            "/proc/self/fd/3", System.IO.FileMode.Open, System.IO.FileAccess.Read);
        var buffer = new System.IO.MemoryStream();
        nonceIn.CopyTo(buffer);
        byte[] nonce = buffer.ToArray();
        byte[] proof = new byte[nonce.Length + 1];
        proof[0] = (byte)'N';
        System.Array.Copy(nonce, 0, proof, 1, nonce.Length);
        using (var done = new System.IO.FileStream(
                "/proc/self/fd/4", System.IO.FileMode.Open, System.IO.FileAccess.Write)) {
            done.Write(proof, 0, proof.Length);
        }
    }
}
"""


def _files(program: str) -> dict[str, str]:
    return {"main.cs": program + "\n" + EPILOGUE}


def _mono_failure(stdout: str, stderr: str) -> str | None:
    for marker in ("System.Diagnostics.DefaultTraceListener.Fail", "Unhandled Exception"):
        if marker in stderr:
            return f"{marker} on stderr (MultiPL-E's C# rule)"
    return None


SMOKE_GOOD = (
    "using System.Diagnostics;\n"
    "class Problem {\n"
    "    public static void Main(string[] args) {\n"
    "        Debug.Assert(2 + 3 == 5);\n"
    "    }\n"
    "}\n"
)
SMOKE_EARLY_EXIT = (
    "class Problem {\n"
    "    public static void Main(string[] args) {\n"
    "        System.Environment.Exit(0);\n"
    "    }\n"
    "}\n"
)

LANGUAGE = Language(
    name="cs",
    source="main.cs",
    tools=(
        Tool("mono-mcs", command="mcs"),
        Tool("mono-runtime", command="mono"),
        Tool("libmono-system-numerics4.0-cil", path="/usr/lib/mono/4.5/System.Numerics.dll"),
    ),
    compile=("mcs", "-d:DEBUG", "-r:System.Numerics.dll", "-main:UscdMain", "main.cs", "-out:main.exe"),
    run=("mono", "main.exe"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    env={"MONO_TRACE_LISTENER": "Console.Error"},
    compile_s=60.0,
    address_space_mb=4096,
    nproc=64,
    etc=("mono",),
    output_failure=_mono_failure,
    notes="mcs instead of csc (Debian 12 has no Roslyn compiler)",
)
