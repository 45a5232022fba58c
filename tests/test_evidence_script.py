"""scripts/evidence_v2.sh without a model: `status` says which steps are done (by the file each
leaves) and gives the command of the others; a step runs the `uscd` command it names (a fake
`uscd` records it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts/evidence_v2.sh"


def run(tmp_path: Path, *args: str) -> list[str]:
    fake = tmp_path / "uscd"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\n')
    fake.chmod(0o755)
    heldout = tmp_path / "heldout_eval"
    heldout.write_text(f'#!/bin/sh\necho "heldout $@" >> {tmp_path}/calls\n')
    heldout.chmod(0o755)
    env = os.environ | {
        "USCD_RESULTS": str(tmp_path / "results"),
        "USCD_LOCK": str(tmp_path / "lock"),
        "USCD": str(fake),
        "HELDOUT": str(heldout),
    }
    out = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_status_marks_finished_steps_and_gives_the_others_command(tmp_path):
    steps = run(tmp_path, "list")
    done = tmp_path / "results/qwen2.5-coder-1.5b/humaneval/branch/summary.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    status = [line.split("\t") for line in run(tmp_path, "status")]
    assert [(s[0], s[1]) for s in status] == [tuple(line.split("\t")[:2]) for line in steps]
    by_name = {s[1]: s for s in status}
    assert by_name["he-branch-1.5b"][2:] == ["done", str(done)]
    premise = by_name["premise-he-0.5b"]
    assert premise[2].startswith("not run (~") and premise[3] == "scripts/evidence_v2.sh premise-he-0.5b"
    assert sum(s[2] == "done" for s in status) == 1


def test_a_step_runs_the_command_it_names(tmp_path):
    run(tmp_path, "he-chat-branch")
    call, program_a, plus, held_out = (tmp_path / "calls").read_text().splitlines()
    r05 = tmp_path / "results/qwen2.5-coder-0.5b"
    out = r05 / "humaneval-chat"
    assert call == f"eval humaneval --prompt-style chat --out {out} --batch 8 --quiet --methods branch"
    assert program_a == f"analyze program-a {out}/branch"
    assert plus == (
        f"evaluate --task humanevalplus --samples {out}/branch/samples.jsonl"
        f" --out {r05}/humanevalplus-chat/branch"
    )
    assert held_out == f"heldout score humaneval {out}/branch"


def test_the_1_5b_chat_steps_use_its_folders_model_and_calibrations(tmp_path):
    r15 = tmp_path / "results/qwen2.5-coder-1.5b"
    run(tmp_path, "mbppplus-chat-spa-1.5b")
    (call,) = (tmp_path / "calls").read_text().splitlines()
    assert call == (
        f"eval mbppplus --prompt-style chat --out {r15}/mbppplus-snapshot-chat --batch 8 --quiet"
        " --model 1.5b --methods spa"
    )
    with pytest.raises(subprocess.CalledProcessError) as failed:  # its calibration is not there
        run(tmp_path, "he-chat-uscd-cal-1.5b")
    assert "missing" in failed.value.stderr and "calibration-mbpp-validation" in failed.value.stderr
    cal = r15 / "calibration-mbpp-validation/calibration.json"
    cal.parent.mkdir(parents=True)
    cal.write_text("{}")
    run(tmp_path, "he-chat-uscd-cal-1.5b")
    assert (tmp_path / "calls").read_text().splitlines()[-3] == (
        f"eval humaneval --prompt-style chat --out {r15}/humaneval-chat --batch 8 --quiet --model 1.5b"
        f" --methods uscd-cal=uscd --calibration {cal}"
    )
    done = r15 / "humaneval-chat/uscd-cal/summary.json"
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    status = {line.split("\t")[1]: line.split("\t")[2:] for line in run(tmp_path, "status")}
    assert status["he-chat-uscd-cal-1.5b"] == ["done", str(done)]
    assert status["he-chat-uscd-cal"][0].startswith("not run")  # the 0.5B's is another step


def test_a_multipl_e_step_takes_its_greedy_runs_batch_size(tmp_path):
    greedy = tmp_path / "results/qwen2.5-coder-0.5b/multipl-e-cpp/greedy"
    greedy.mkdir(parents=True)
    (greedy / "config.json").write_text('{"batch": 1}')
    run(tmp_path, "mle-cpp-uscd-cal", "mle-go-uscd-cal")
    cpp, go = (tmp_path / "calls").read_text().splitlines()
    assert cpp.startswith("eval multipl-e-cpp --methods uscd-cal=uscd") and "--batch 1 " in cpp
    assert go.startswith("eval multipl-e-go") and "--batch 8 " in go  # no greedy run there: the default


def test_heldout_mle_scores_the_other_methods_where_greedy_has_held_out_tests(tmp_path):
    r05 = tmp_path / "results/qwen2.5-coder-0.5b"
    for folder, files in {
        "multipl-e-js/greedy": ("results.jsonl", "heldout_summary.json"),
        "multipl-e-js/branch": ("results.jsonl", "heldout_summary.json"),  # scored already
        "multipl-e-js/uscd-cal": ("results.jsonl",),
        "multipl-e-js/adadec": ("results.jsonl",),
        "multipl-e-js/cd": ("config.json",),  # generated, not scored: nothing to score
        "multipl-e-lua/greedy": ("results.jsonl",),  # no held-out column for lua
        "multipl-e-lua/uscd-cal": ("results.jsonl",),
    }.items():
        (r05 / folder).mkdir(parents=True)
        for name in files:
            (r05 / folder / name).write_text("{}")
    run(tmp_path, "heldout-mle")
    js = r05 / "multipl-e-js"
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"heldout score multipl-e-js {js}/adadec {js}/uscd-cal"
    ]


def test_a_multipl_e_branch_step_scores_the_languages_other_methods_on_held_out_tests(tmp_path):
    lang = tmp_path / "results/qwen2.5-coder-0.5b/multipl-e-lua"
    for folder in ("greedy", "uscd-cal"):
        (lang / folder).mkdir(parents=True)
        (lang / folder / "results.jsonl").write_text("{}")
    (lang / "greedy" / "heldout_summary.json").write_text("{}")  # as the step's own scoring leaves it
    run(tmp_path, "mle-lua-branch")
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].startswith("eval multipl-e-lua --methods branch")
    assert calls[1] == f"analyze program-a {lang}/branch"
    assert calls[2] == f"heldout score multipl-e-lua {lang}/greedy {lang}/branch {lang}/branch/program-a"
    assert calls[3:] == [f"heldout score multipl-e-lua {lang}/uscd-cal"]


def test_any_multipl_e_step_scores_its_run_on_held_out_tests_where_the_language_has_them(tmp_path):
    r05 = tmp_path / "results/qwen2.5-coder-0.5b"
    for lang, held in (("js", True), ("go", False)):
        (r05 / f"multipl-e-{lang}/greedy").mkdir(parents=True)
        if held:
            (r05 / f"multipl-e-{lang}/greedy/heldout_summary.json").write_text("{}")
        (r05 / f"multipl-e-{lang}/adadec").mkdir()
        (r05 / f"multipl-e-{lang}/adadec/results.jsonl").write_text("{}")  # what the eval leaves
    run(tmp_path, "mle-js-adadec", "mle-go-adadec")
    js_eval, js_held, go_eval = (tmp_path / "calls").read_text().splitlines()
    assert js_eval.startswith("eval multipl-e-js --methods adadec")
    assert go_eval.startswith("eval multipl-e-go")  # no held-out column for go: nothing more
    assert js_held == f"heldout score multipl-e-js {r05}/multipl-e-js/adadec"
