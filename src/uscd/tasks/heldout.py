"""Held-out tests: a benchmark's tests less those that repeat an example of the prompt (issue #18).

A method that executes the prompt's own examples (the `branch` method) is partly graded on them:
MBPP's prompt assert *is* its first test, and HumanEval's docstring examples often reappear in
`check`. Its pass@1 is therefore also reported on the held-out tests alone:

- an `assert` of the test program is *leaked* when it calls the tested function (the entry point,
  or HumanEval's `candidate`) on arguments that one of the prompt's examples (the checks of
  uscd.prompts.examples) passes to a call; it is removed, everything else stays (setup code,
  loops, the asserts on other inputs);
- a problem whose tests are all leaked has no held-out test and is left out of the held-out column.

Arguments are compared by value where they are Python literals (`[1, 2]` and `[1,2]` are the same
input), else by their syntax tree. Pure: `ast` only, nothing is executed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from uscd.prompts.examples import extract_checks
from uscd.tasks.base import Problem

TESTED_NAMES = ("candidate",)  # HumanEval's `check(candidate)` calls the solution by this name


@dataclass(frozen=True)
class HeldOut:
    """One problem's held-out test tail (it replaces `program_tail`) and what was removed."""

    task_id: str
    tail: str
    kept: int  # asserts left
    dropped: tuple[str, ...]  # the leaked asserts, as source

    def to_dict(self) -> dict:
        return {"task_id": self.task_id, "kept": self.kept, "dropped": list(self.dropped)}


def input_key(call: ast.Call) -> str:
    """The arguments of a call, by value where they are literals."""
    parts = [_value(a) for a in call.args]
    parts += [f"{k.arg}={_value(k.value)}" for k in sorted(call.keywords, key=lambda k: k.arg or "")]
    return "(" + ", ".join(parts) + ")"


def _value(node: ast.expr) -> str:
    try:
        return repr(ast.literal_eval(node))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ast.dump(node, annotate_fields=False)


def example_inputs(prompt: str) -> set[str]:
    """The inputs the prompt's examples call functions on."""
    keys = set()
    for check in extract_checks(prompt).checks:
        try:
            tree = ast.parse(check.code.strip())
        except SyntaxError:
            continue
        keys |= {input_key(n) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return keys


class _DropLeaked(ast.NodeTransformer):
    def __init__(self, names: set[str], leaked_inputs: set[str]) -> None:
        self.names, self.leaked_inputs = names, leaked_inputs
        self.dropped: list[str] = []
        self.kept = 0

    def visit_Assert(self, node: ast.Assert):
        calls = [
            n
            for n in ast.walk(node.test)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in self.names
        ]
        if any(input_key(c) in self.leaked_inputs for c in calls):
            self.dropped.append(ast.unparse(node))
            return None
        self.kept += 1
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if name == "body" and isinstance(block, list) and not block and not isinstance(node, ast.Module):
                block.append(ast.Pass())  # a block emptied by the removal stays valid Python
        return node


def held_out(problem: Problem) -> HeldOut:
    """`problem`'s test tail without its leaked asserts (a Python or MultiPL-E completion problem)."""
    if problem.language != "python":
        from uscd.tasks import heldout_multipl_e

        tail, kept, dropped = heldout_multipl_e.split(problem)
        return HeldOut(problem.task_id, tail, kept, dropped)
    tree = ast.parse(problem.program_tail)
    dropper = _DropLeaked({problem.entry_point, *TESTED_NAMES}, example_inputs(problem.prompt))
    tree = ast.fix_missing_locations(dropper.visit(tree))
    tail = "\n" + ast.unparse(tree) + "\n"
    return HeldOut(problem.task_id, tail, dropper.kept, tuple(dropper.dropped))


def held_out_problem(problem: Problem) -> Problem | None:
    """The problem with only its held-out tests (None: it has none)."""
    from dataclasses import replace

    split = held_out(problem)
    return replace(problem, program_tail=split.tail) if split.kept else None
