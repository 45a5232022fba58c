"""Ruby as MultiPL-E's eval_ruby: `ruby FILE` with test/unit; exit 0 = OK (stderr decides SyntaxError).

Proof of completion: test/unit normally runs in an `at_exit` hook, after anything appended; the
epilogue turns that off, runs the same AutoRunner itself, and writes the nonce only when it passed.
`exit!(0)` or `exit(0)` earlier end the process before.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool

EPILOGUE = """
Test::Unit::AutoRunner.need_auto_run = false
uscd_passed = Test::Unit::AutoRunner.run
if uscd_passed
  uscd_nonce = IO.new(3, "rb").read
  IO.new(4, "wb").syswrite("N" + uscd_nonce)
end
exit(uscd_passed)
"""


def _files(program: str) -> dict[str, str]:
    return {"main.rb": program + "\n" + EPILOGUE}


SMOKE_GOOD = (
    "require 'test/unit'\n"
    "class TestAdd < Test::Unit::TestCase\n"
    "  def test_add\n"
    "    assert_equal(5, 2 + 3)\n"
    "  end\n"
    "end\n"
)
SMOKE_EARLY_EXIT = "exit!(0)\n"

LANGUAGE = Language(
    name="rb",
    source="main.rb",
    tools=(
        Tool("ruby", command="ruby"),
        Tool("ruby-test-unit", path="/usr/share/rubygems-integration/all/gems/test-unit-*/lib/test/unit.rb"),
    ),
    run=("ruby", "main.rb"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
)
