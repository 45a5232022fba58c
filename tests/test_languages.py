"""MultiPL-E execution per language: passes, failures, compile errors, and early exits that must fail.

Programs are MultiPL-E's own HumanEval_53_add prompt + tests with hand-written completions
(tests/multipl_e_cases.py). A language whose toolchain is missing here is skipped with the install
hint (CI installs them all with scripts/install-system-deps.sh). Endless loops, output floods and
fork storms are @slow.
"""

from __future__ import annotations

import pytest

from multipl_e_cases import CASES, GO_EARLY_EXIT, PROBLEM
from uscd.execution import Limits, run_program
from uscd.execution import languages as langs
from uscd.tasks import get_task

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
LIMITS = Limits(wall_s=8.0, cpu_s=8)
SLOW_LANGUAGES = {"scala", "ts", "go", "java"}  # seconds per program: only the key cases by default


def _program(language: str, kind: str) -> str:
    problem = get_task(f"multipl-e-{language}").problem(PROBLEM)
    return problem.program(CASES[language][kind])


def _require(language: str) -> None:
    try:
        langs.require(language)
    except langs.ToolchainMissing as exc:
        pytest.skip(str(exc))


def _cases(kinds: tuple[str, ...], slow_languages: set[str]) -> list:
    params = []
    for language, cases in CASES.items():
        for kind in kinds:
            if kind in cases:
                slow = language in slow_languages
                params.append(pytest.param(language, kind, marks=[pytest.mark.slow] if slow else []))
    return params


@pytest.mark.parametrize(("language", "kind"), _cases(("good", "exit0"), {"scala"}))
def test_pass_and_early_exit(language: str, kind: str) -> None:
    _require(language)
    result = run_program(_program(language, kind), language=language, limits=LIMITS)
    if kind == "good":
        assert result.status == "pass", (result.reason, result.stderr_tail[-500:])
    else:
        assert result.status == "fail", result
        assert "no proof of completion" in result.reason


@pytest.mark.parametrize(("language", "kind"), _cases(("wrong", "broken"), SLOW_LANGUAGES))
def test_wrong_and_broken_fail(language: str, kind: str) -> None:
    _require(language)
    spec = langs.get(language)
    result = run_program(_program(language, kind), language=language, limits=LIMITS)
    assert result.status == "fail", result
    if kind == "broken" and spec.compile is not None:
        assert result.phase == "compile" and result.reason.startswith("compile error: ")
    else:
        assert result.phase == "run"


def test_go_early_exit_in_a_test_fails() -> None:
    """`go test` itself turns os.Exit(0) inside a test into a panic (-test.paniconexit0), as here."""
    _require("go")
    result = run_program(GO_EARLY_EXIT, language="go", limits=LIMITS)
    assert result.status == "fail" and "FAIL: TestAdd" in result.stdout_tail, result


def test_go_early_exit_outside_a_test_fails() -> None:
    """os.Exit(0) from init() runs before any test: only the proof of completion catches it."""
    _require("go")
    init_exit = "func init() { os.Exit(0) }\n\nfunc TestAdd(t *testing.T) {\n}"
    program = GO_EARLY_EXIT.replace("func TestAdd(t *testing.T) {\n    os.Exit(0)\n}", init_exit)
    assert program != GO_EARLY_EXIT
    result = run_program(program, language="go", limits=LIMITS)
    assert result.status == "fail" and "no proof of completion" in result.reason, result


@pytest.mark.parametrize("language", ["sh", "cpp", "lua", "java"])
def test_process_level_keeps_the_proof(language: str) -> None:
    _require(language)
    good = run_program(_program(language, "good"), language=language, limits=LIMITS, level="process")
    early = run_program(_program(language, "exit0"), language=language, limits=LIMITS, level="process")
    assert (good.status, early.status) == ("pass", "fail"), (good.reason, early.reason)


@pytest.mark.slow
@pytest.mark.parametrize(("language", "kind"), _cases(("loop", "flood", "fork"), set()))
def test_hostile_programs_never_pass(language: str, kind: str) -> None:
    _require(language)
    limits = Limits(wall_s=3.0, cpu_s=3)
    result = run_program(_program(language, kind), language=language, limits=limits)
    assert result.status in ("fail", "timeout"), result
    if kind == "loop":
        assert result.status == "timeout"


def test_output_rule_fails_racket_checks_that_only_print() -> None:
    _require("rkt")
    result = run_program(_program("rkt", "wrong"), language="rkt", limits=LIMITS)
    assert result.status == "fail" and "stderr" in result.reason


def test_compile_timeout_is_reported_as_compile_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    _require("cpp")
    import dataclasses

    from uscd.execution.languages import cpp

    slow = dataclasses.replace(cpp.LANGUAGE, compile=("sleep", "5"), compile_s=1.0)
    monkeypatch.setattr(langs, "require", lambda name: slow)
    result = run_program("int main() {}\n", language="cpp", limits=LIMITS)
    assert (result.status, result.phase) == ("timeout", "compile")


def test_evaluate_folder_executes_a_multipl_e_run(tmp_path) -> None:
    """`uscd evaluate DIR` on a generation-only MultiPL-E folder: executed in its own language."""
    _require("sh")
    from uscd.run.evaluate import Sandbox
    from uscd.run.folder import evaluate_run
    from uscd.runs import RunFolder

    task = get_task("multipl-e-sh")
    config = {"task": task.config(), "method": {"label": "greedy", "rule": "greedy"}}
    config["sandbox_limits"] = {"timeout_s": 8.0}
    folder = RunFolder(tmp_path / "greedy")
    folder.open(config)
    problem = task.problem(PROBLEM)
    for index, kind in enumerate(("good", "exit0", "wrong")):
        sample = {"task_id": problem.task_id, "sample_idx": index, "completion": CASES["sh"][kind]}
        folder.append("samples.jsonl", sample)
    folder.close()
    summary = evaluate_run(RunFolder(tmp_path / "greedy"), Sandbox(timeout_s=8.0))
    assert summary["statuses"] == {"pass": 1, "fail": 2}
    assert summary["environment_flags"] == []
