"""Lua as MultiPL-E's eval_lua: `lua FILE` with luaunit; exit 0 = OK.

Proof of completion: the tests end in `os.exit(lu.LuaUnit.run())`; that line becomes "run, and if no
test failed write the nonce, then exit with the same status". `os.exit(0)` earlier never gets there.
"""

from __future__ import annotations

from uscd.execution.languages._spec import Language, Tool, replace_last

TESTS_END = "os.exit(lu.LuaUnit.run())"
PROOF = (
    "local uscd_status = lu.LuaUnit.run()\n"
    "if uscd_status == 0 then\n"
    '  local uscd_in = io.open("/proc/self/fd/3", "rb")\n'
    '  local uscd_nonce = uscd_in:read("*a")\n'
    '  local uscd_out = io.open("/proc/self/fd/4", "ab")\n'
    '  uscd_out:write("N" .. uscd_nonce)\n'
    "  uscd_out:close()\n"
    "end\n"
    "os.exit(uscd_status)\n"
)


def _files(program: str) -> dict[str, str]:
    replaced = replace_last(program, TESTS_END, PROOF)
    return {"main.lua": program if replaced is None else replaced}


SMOKE_GOOD = (
    "lu = require('luaunit')\n"
    "function test_add()\n"
    "    lu.assertEquals(2 + 3, 5)\n"
    "end\n"
    "os.exit(lu.LuaUnit.run())\n"
)
SMOKE_EARLY_EXIT = "os.exit(0)\nlu = require('luaunit')\nos.exit(lu.LuaUnit.run())\n"

LANGUAGE = Language(
    name="lua",
    source="main.lua",
    tools=(
        Tool("lua5.3", command="lua", version_args=("-v",)),
        Tool("lua-unit", path="/usr/share/lua/5.3/luaunit.lua"),
    ),
    run=("lua", "main.lua"),
    epilogue=_files,
    smoke=(SMOKE_GOOD, SMOKE_EARLY_EXIT),
)
