"""Perl as MultiPL-E's eval_pl: `perl FILE` with Test::Deep; exit != 0 or "ERROR" in the output = Exception.

Proof of completion: a block after the tests' `testhumaneval();` copies the nonce from fd 3 to fd 4.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
{
    open(my $uscd_in, "<&=", 3) or die "uscd: no nonce";
    local $/;
    my $uscd_nonce = <$uscd_in>;
    open(my $uscd_done, ">&=", 4) or die "uscd: no done pipe";
    syswrite($uscd_done, "N" . $uscd_nonce);
}
"""


def _files(program: str) -> dict[str, str]:
    return {"main.pl": program + "\n" + EPILOGUE}


def _error_in_output(stdout: str, stderr: str) -> str | None:
    return "ERROR in the output (MultiPL-E's perl rule)" if "ERROR" in stdout or "ERROR" in stderr else None


SMOKE_GOOD = "use Test::Deep;\nif (!eq_deeply(2 + 3, 5)) { exit 1; }\n"
SMOKE_EARLY_EXIT = "exit 0;\n"

LANGUAGE = Language(
    name="pl",
    source="main.pl",
    tools=(Tool("perl", command="perl"), Tool("libtest-deep-perl", path="/usr/share/perl5/Test/Deep.pm")),
    run=("perl", "main.pl"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
    output_failure=_error_in_output,
)
