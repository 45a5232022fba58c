"""Completions of MultiPL-E's HumanEval_53_add ("add two numbers") per language, for the sandbox tests.

good: passes; wrong: fails a test; exit0: exits with status 0 before the tests ran (must not pass);
broken: does not compile / parse; loop, flood, fork: endless loop, output flood, fork storm.
"""

PROBLEM = "HumanEval_53_add"

# Go prompts import only testing and fmt, so a completion cannot reach os.Exit: a whole program does.
GO_EARLY_EXIT = """package add_test

import (
    "os"
    "testing"
)

func add(x int, y int) int {
    return x + y
}

func TestAdd(t *testing.T) {
    os.Exit(0)
}
"""

CASES: dict[str, dict[str, str]] = {
    "cpp": {
        "good": "    return x + y;\n",
        "wrong": "    return x - y;\n",
        "exit0": "    exit(0);\n",
        "broken": "    return x +;\n",
        "loop": "    while (true) {}\n",
        "flood": '    while (true) puts("flood flood flood");\n',
        "fork": "    return 0;\n}\n#include <unistd.h>\n"
        "static int storm = [] { while (true) fork(); return 0; }();\n"
        "long unused(long x, long y) {\n    return 0;\n",
    },
    "rs": {
        "good": "    x + y\n",
        "wrong": "    x - y\n",
        "exit0": "    std::process::exit(0)\n",
        "broken": "    x +\n",
        "loop": "    loop {}\n",
        "flood": '    loop { println!("flood flood flood"); }\n',
        "fork": '    loop { let _ = std::process::Command::new("/bin/sleep").arg("100").spawn(); }\n',
    },
    "go": {
        "good": "    return x + y\n}\n",
        "wrong": "    return x - y\n}\n",
        "broken": "    return x +\n}\n",
        "loop": "    for {}\n}\n",
        "flood": '    for { fmt.Println("flood flood flood") }\n}\n',
    },
    "java": {
        "good": "        return x + y;\n",
        "wrong": "        return x - y;\n",
        "exit0": "        System.exit(0);\n        return 0;\n",
        "broken": "        return x +;\n",
        "loop": "        while (true) {}\n",
        "flood": '        while (true) System.out.println("flood flood flood");\n',
        "fork": '        while (true) { try { new ProcessBuilder("/bin/sleep", "100").start(); }'
        " catch (Exception e) {} }\n",
    },
    "js": {
        "good": "  return x + y;\n}\n",
        "wrong": "  return x - y;\n}\n",
        "exit0": "  process.exit(0);\n}\n",
        "broken": "  return x +;\n}\n",
        "loop": "  while (true) {}\n}\n",
        "flood": "  while (true) console.log('flood flood flood');\n}\n",
        "fork": "  while (true) require('child_process').spawn('/bin/sleep', ['100']);\n}\n",
    },
    "ts": {
        "good": "  return x + y;\n}\n",
        "wrong": "  return x - y;\n}\n",
        "exit0": "  (process as any).exit(0);\n  return 0;\n}\ndeclare var process: any;\n",
        "broken": "  return x + 'a';\n}\n",
        "loop": "  while (true) {}\n}\n",
    },
    "lua": {
        "good": "    return x + y\nend\n",
        "wrong": "    return x - y\nend\n",
        "exit0": "    os.exit(0)\nend\nos.exit(0)\n",
        "broken": "    return x +\nend\n",
        "loop": "    while true do end\nend\n",
        "flood": "    while true do print('flood flood flood') end\nend\n",
        "fork": "    while true do os.execute('/bin/sleep 100 &') end\nend\n",
    },
    "php": {
        "good": "    return $x + $y;\n}\n",
        "wrong": "    return $x - $y;\n}\n",
        "exit0": "    return $x + $y;\n}\nexit(0);\n",
        "broken": "    return $x +;\n}\n",
        "loop": "    while (true) {}\n}\n",
        "flood": '    while (true) echo "flood flood flood\\n";\n}\n',
    },
    "pl": {
        "good": "    return $x + $y;\n}\n",
        "wrong": "    return $x - $y;\n}\n",
        "exit0": "    return $x + $y;\n}\nexit 0;\n",
        "broken": "    return $x +;\n}\n",
        "loop": "    while (1) {}\n}\n",
        "flood": '    while (1) { print "flood flood flood\\n"; }\n}\n',
        "fork": "    while (1) { fork(); }\n}\n",
    },
    "r": {
        "good": "\n    x + y\n}\n",
        "wrong": "\n    x - y\n}\n",
        "exit0": "\n    x + y\n}\nquit(status = 0)\n",
        "broken": "\n    x + \n}\n",
        "loop": "\n    while (TRUE) {}\n}\n",
        "flood": "\n    while (TRUE) print('flood flood flood')\n}\n",
    },
    "rb": {
        "good": "  return x + y\nend\n",
        "wrong": "  return x - y\nend\n",
        "exit0": "  return x + y\nend\nexit!(0)\n",
        "broken": "  return x +\nend\nend\n",
        "loop": "  loop {}\nend\n",
        "flood": "  loop { puts 'flood flood flood' }\nend\n",
        "fork": "  loop { fork { sleep 100 } rescue nil }\nend\n",
    },
    "sh": {
        "good": "    echo $(( $1 + $2 ))\n",
        "wrong": "    echo $(( $1 - $2 ))\n",
        "exit0": "    echo $(( $1 + $2 ))\n}\nexit 0\nunused() {\n    :\n",
        "broken": "    echo $(( $1 + $2 )\n    if then\n",
        "loop": "    while true; do :; done\n",
        "flood": "    yes flood\n",
        "fork": "    while true; do sleep 100 & done\n",
    },
    "cs": {
        "good": "    public static long Add(long x, long y) {\n        return x + y;\n",
        "wrong": "    public static long Add(long x, long y) {\n        return x - y;\n",
        "exit0": "    public static long Add(long x, long y) {\n"
        "        Environment.Exit(0);\n        return 0;\n",
        "broken": "    public static long Add(long x, long y) {\n        return x +;\n",
        "loop": "    public static long Add(long x, long y) {\n        while (true) {}\n",
    },
    "d": {
        "good": "{\n    return x + y;\n}\n\n",
        "wrong": "{\n    return x - y;\n}\n\n",
        "exit0": "{\n    import core.stdc.stdlib : exit;\n    exit(0);\n    return 0;\n}\n\n",
        "broken": "{\n    return x +;\n}\n\n",
        "loop": "{\n    while (true) {}\n}\n\n",
    },
    "rkt": {
        "good": "  (+ x y))\n",
        "wrong": "  (- x y))\n",
        "exit0": "  (exit 0))\n",
        "broken": "  (+ x y)))\n",
        "loop": "  (let loop () (loop)))\n",
    },
    "scala": {
        "good": "        x + y\n",
        "wrong": "        x - y\n",
        "exit0": "        System.exit(0)\n        0\n",
        "broken": "        x +\n",
    },
}
