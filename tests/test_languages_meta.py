"""The language registry, toolchain errors, doctor and summary flags: no programs compiled here
except doctor's two tiny ones for sh."""

from __future__ import annotations

import json

import pytest

from uscd.cli import main
from uscd.execution import languages as langs
from uscd.execution.languages._spec import Tool, replace_last
from uscd.summary import environment_flags, summarize
from uscd.tasks.multipl_e import LANGUAGES

PAPER_LANGUAGES = {"cpp", "cs", "d", "go", "java", "jl", "js", "lua", "php", "pl", "r", "rb", "rkt", "rs"}
PAPER_LANGUAGES |= {"scala", "sh", "swift", "ts"}


def test_every_multipl_e_language_is_executable_or_explained() -> None:
    for name in LANGUAGES:
        if name == "py":
            continue
        assert name in langs.names() or name in langs.UNSUPPORTED, name
    assert PAPER_LANGUAGES - set(langs.names()) == {"jl", "swift"}


def test_each_language_module_declares_a_complete_spec() -> None:
    for name in langs.names():
        spec = langs.get(name)
        assert spec.name == name and spec.tools and spec.run
        good, early = spec.smoke
        assert good and early
        files = spec.files(good)
        assert spec.source in files


def test_unknown_and_unsupported_languages_raise_one_line() -> None:
    with pytest.raises(langs.UnsupportedLanguage, match="Julia is not packaged"):
        langs.require("jl")
    with pytest.raises(ValueError, match="unknown language"):
        langs.get("cobol")


def test_missing_toolchain_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Tool, "present", lambda self: False)
    with pytest.raises(langs.ToolchainMissing) as caught:
        langs.require("ts")
    message = str(caught.value)
    assert "\n" not in message
    assert "npm install -g typescript" in message and "apt-get install nodejs" in message


def test_eval_refuses_a_language_without_toolchain(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from uscd.runner import check_executable
    from uscd.tasks import get_task

    monkeypatch.setattr(Tool, "present", lambda self: False)
    problems = get_task("multipl-e-lua").problems(2)
    with pytest.raises(langs.ToolchainMissing, match=r"lua: lua, .* not found; install with apt-get install"):
        check_executable(problems)


def test_doctor_reports_missing_toolchain_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(Tool, "present", lambda self: False)
    code = main(["doctor", "--languages", "rs,swift"])
    out = capsys.readouterr().out
    assert code == 1
    assert "PROBLEM  rs: rustc not found; install with apt-get install rustc" in out
    assert "Swift is not packaged" in out and "Traceback" not in out


def test_doctor_checks_the_sandbox(capsys) -> None:
    try:
        langs.require("sh")
    except langs.ToolchainMissing as exc:
        pytest.skip(str(exc))
    assert main(["doctor", "--languages", "sh", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (sh,) = report["languages"]
    assert sh["ok"] and sh["sandbox"].startswith("pass + early exit caught")


def _result(status: str, reason: str = "", phase: str | None = None) -> dict:
    record = {"task_id": reason + status, "sample_idx": 0, "status": status, "reason": reason}
    return record | ({"phase": phase} if phase else {})


def test_flags_a_run_where_most_programs_do_not_compile() -> None:
    results = [_result("fail", f"compile error: bits/stdc++.h missing {i % 1}", "compile") for i in range(6)]
    results += [_result("pass", str(i)) for i in range(4)]
    flags = environment_flags(results)
    assert len(flags) == 1 and flags[0].startswith("6/10 programs failed to compile")
    assert "uscd doctor" in flags[0]


def test_flags_a_run_where_the_sandbox_fails() -> None:
    results = [_result("error", "sandbox failed before the program started: bwrap: x") for _ in range(3)]
    results.append(_result("pass"))
    assert environment_flags(results) == [
        "3/4 runs failed in the sandbox, 3 with: sandbox failed before the program started: bwrap: x"
    ]


def test_no_flag_for_ordinary_failures() -> None:
    results = [_result("fail", f"exit code 1: assertion {i}") for i in range(8)] + [_result("pass")]
    assert environment_flags(results) == []
    summary = summarize({"task": {"name": "multipl-e-go"}}, [], results)
    assert summary["environment_flags"] == []


def test_replace_last_touches_only_the_last_occurrence() -> None:
    assert replace_last("a main main", "main", "X") == "a main X"
    assert replace_last("abc", "main", "X") is None


@pytest.mark.parametrize("language", sorted(set(langs.names())))
def test_lame_show_works_for_every_executable_language(language: str, capsys) -> None:
    assert main(["lame", "show", "53", "--task", f"multipl-e-{language}", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["language"] == language and shown["lame"] is not None
    assert len(shown["lame"]) < len(shown["standard"])  # the >>> examples are gone
