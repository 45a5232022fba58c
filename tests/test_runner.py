"""`uscd eval`: method specs, run folders, resume after kill -9, generation-only + evaluate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uscd.errors import UscdError
from uscd.run.generate import sample_seed
from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings, run_config
from uscd.runner import MethodSpec, calibration_mismatch, parse_methods
from uscd.runs import RunFolder, config_hash, read_jsonl

RESULTS = Path(__file__).resolve().parents[1] / "results"

# ---------------------------------------------------------------------------------------------
# no model


def test_parse_methods():
    specs = parse_methods("greedy, cd ,paper=uscd:measure=std-norm:threshold=0.8947,offl=uscd:lame=official")
    assert [s.label for s in specs] == ["greedy", "cd", "paper", "offl"]
    assert specs[2] == MethodSpec("paper", "uscd", {"measure": "std-norm", "threshold": 0.8947})
    assert specs[3].lame_source == "official" and specs[3].rule == "uscd"
    assert parse_methods("x=uscd-official:filter=0.5")[0].knobs == {"filter_num": 0.5}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("beam", "unknown rule"),
        ("greedy,greedy", "unique"),
        ("cd:rho", "key=value"),
        ("cd:rho=abc", "needs a number"),
        ("cd:temperature=1", "unknown knob"),
        ("x=uscd:lame=chatgpt", "lame must be"),
        ("a/b=cd", "label"),
        ("", "no methods"),
    ],
)
def test_bad_method_specs(text, needle):
    with pytest.raises(UscdError, match=needle):
        parse_methods(text)


def test_a_calibration_from_another_model_is_named_in_a_warning(tmp_path):
    from uscd.cli.eval import load_calibration

    small = {"name": "qwen2.5-coder-0.5b-instruct", "sha256": "aa"}
    big = {"name": "qwen2.5-coder-1.5b-instruct", "sha256": "bb"}
    written = {"rule": "uscd", "knobs": {"threshold": 0.5}, "model": small, "selected": {}}
    (tmp_path / "calibration.json").write_text(json.dumps(written))
    calibration = load_calibration(str(tmp_path / "calibration.json"))
    assert calibration_mismatch(calibration, small) is None
    assert calibration_mismatch(None, big) is None
    assert calibration_mismatch({"rule": "uscd", "knobs": {}}, big) is None  # hand-written: no record
    warning = calibration_mismatch(calibration, big)
    assert "qwen2.5-coder-0.5b-instruct" in warning and "qwen2.5-coder-1.5b-instruct" in warning


def test_the_recorded_calibration_is_the_same_whichever_model_made_it(tmp_path):
    """Run configs (and so config hashes) record rule, knobs and source, not the warning's input."""
    from types import SimpleNamespace

    from uscd.methods import make_rule

    (spec,) = parse_methods("uscd-cal=uscd")
    calibration = {"rule": "uscd", "knobs": {"rho": 0.3}, "source": "c.json"}
    task = SimpleNamespace(config=lambda: {"name": "tiny"})

    def recorded(made_on):
        generation = GenerationSettings(calibration={**calibration, "made_on": made_on})
        settings = EvalSettings(RunSettings("tiny", {}, [spec], tmp_path), generation=generation)
        return run_config(settings, task, spec, make_rule("uscd"), {"sha256": "x"}, {})["calibration"]

    assert recorded({"sha256": "aa"}) == recorded(None) == calibration


def settings_like(config: dict, out: Path) -> EvalSettings:
    from uscd.run.evaluate import Sandbox
    from uscd.run.settings import SamplingSettings

    method = config["method"]
    spec = MethodSpec(method["label"], method["rule"], {}, method["lame_source"])
    generation = GenerationSettings(**config["generation"], calibration=config.get("calibration"))
    return EvalSettings(
        RunSettings(config["task"]["name"], {}, [spec], out, limit=config.get("limit")),
        generation=generation,
        sampling=SamplingSettings(**config["sampling"]),
        sandbox=Sandbox(**config["sandbox_limits"]),
    )


def test_committed_runs_keep_their_config_hash(tmp_path):
    """Grouped settings record exactly what the flat ones did: every committed run still resumes."""
    from types import SimpleNamespace

    configs = sorted(RESULTS.glob("*/*/*/config.json"))
    assert len(configs) >= 20
    for path in configs:
        config = json.loads(path.read_text())
        if config.get("kind") == "samples-file":  # scored from a file, not made by run_config
            continue
        settings = settings_like(config, tmp_path)
        method = config["method"]
        task = SimpleNamespace(config=lambda c=config: {**c["task"], "dataset_path": c["dataset_location"]})
        rule = SimpleNamespace(name=method["rule"], knobs=lambda m=method: m["knobs"])
        model_info = {**config["model"], "path": config["model_location"]}
        backend_info = {**config["backend"], "n_threads": config.get("threads")}
        rebuilt = run_config(settings, task, settings.run.methods[0], rule, model_info, backend_info)
        assert config_hash(rebuilt) == config["config_hash"], path


def test_sample_seeds_do_not_depend_on_order():
    assert sample_seed(0, "HumanEval/3", 2) == sample_seed(0, "HumanEval/3", 2)
    assert len({sample_seed(0, f"T/{i}", j) for i in range(20) for j in range(5)}) == 100


def test_run_folder_refuses_other_settings_and_keeps_volatile_ones(tmp_path):
    folder = RunFolder(tmp_path / "run")
    cfg = {"task": {"name": "humaneval"}, "method": {"rule": "uscd"}, "limit": 5, "threads": 2}
    stored = folder.open(cfg)
    assert stored["config_hash"] == config_hash(cfg)
    again = folder.open({**cfg, "limit": 50, "threads": 1})  # a larger --limit resumes the same run
    assert again["limit"] == 50 and again["config_hash"] == stored["config_hash"]
    with pytest.raises(UscdError, match=r"different settings.*method"):
        RunFolder(tmp_path / "run").open({**cfg, "method": {"rule": "cd"}})


def test_a_torn_last_line_is_dropped_and_cut(tmp_path):
    folder = RunFolder(tmp_path)
    folder.open({"x": 1})
    folder.append("samples.jsonl", {"task_id": "a", "sample_idx": 0})
    folder.close()
    with open(tmp_path / "samples.jsonl", "a") as fh:
        fh.write('{"task_id": "b", "sam')  # what kill -9 in the middle of a write leaves
    assert [r["task_id"] for r in read_jsonl(tmp_path / "samples.jsonl")] == ["a"]
    folder = RunFolder(tmp_path)
    folder.append("samples.jsonl", {"task_id": "c", "sample_idx": 0})
    folder.close()
    assert [r["task_id"] for r in read_jsonl(tmp_path / "samples.jsonl")] == ["a", "c"]


def test_eval_bad_input_is_one_line(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "uscd", *args], capture_output=True, text=True, timeout=120
        )

    for args, needle in [
        (["eval", "nosuchtask"], "unknown task"),
        (["eval", "humaneval", "--methods", "beam"], "unknown rule"),
        (["eval", "humaneval", "--n-samples", "3"], "needs sampling"),
        (["eval", "humaneval", "--calibration", str(tmp_path / "none.json")], "does not exist"),
        (["eval", "mbpp", "--methods", "x=uscd:lame=official"], "only for humaneval"),
        (["eval", "mbpp", "--data", "/nope.jsonl"], "not found"),
        (["evaluate", str(tmp_path)], "no run folder"),
        (["eval", "humaneval", "--batch", "0"], "'auto' or a positive integer"),
        (["calibrate", "--batch", "many"], "'auto' or a positive integer"),
    ]:
        proc = run(*args)
        assert proc.returncode != 0
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and needle in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# with the real model


def uscd_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "uscd", *args]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.model
def test_eval_end_to_end_then_resume_generates_nothing_twice(model_path, tmp_path):
    out = tmp_path / "run"
    args = ["eval", "humaneval", "--limit", "2", "--methods", "greedy,uscd", "--out", str(out), "--quiet"]
    first = subprocess.run(uscd_cmd(*args), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    for label in ("greedy", "uscd"):
        run = out / label
        samples, results = lines(run / "samples.jsonl"), lines(run / "results.jsonl")
        assert len(samples) == len(results) == 2
        summary = json.loads((run / "summary.json").read_text())
        assert summary["samples_executed"] == 2 and summary["levels"]
        assert summary["pass@1"] == sum(json.loads(r)["status"] == "pass" for r in results) / 2
        config = json.loads((run / "config.json").read_text())
        assert config["model"]["sha256"] and config["task"]["dataset_sha256"]
        assert (config["method"]["rule"] == label and "rho" in config["method"]["knobs"]) or label == "greedy"
    before = {p: p.read_bytes() for p in out.rglob("*.jsonl")}
    again = subprocess.run(uscd_cmd(*args), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in out.rglob("*.jsonl")} == before
    assert "greedy" in again.stdout and "uscd" in again.stdout


@pytest.mark.model
def test_kill_9_in_the_middle_loses_nothing(model_path, tmp_path):
    out = tmp_path / "run"
    args = ["eval", "humaneval", "--limit", "5", "--methods", "greedy", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(
        uscd_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    samples = out / "greedy" / "samples.jsonl"
    deadline = time.time() + 300
    while len(lines(samples)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = lines(samples)
    assert 2 <= len(kept) < 5, "the kill must land in the middle of the run"
    done = subprocess.run(uscd_cmd(*args), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    final = lines(samples)
    assert final[: len(kept)] == kept  # what was written before the kill is untouched
    ids = [json.loads(x)["task_id"] for x in final]
    # each exactly once (a batched run writes them in completion order)
    assert sorted(ids) == sorted(f"HumanEval/{i}" for i in range(5)) and len(ids) == 5
    results = [json.loads(x)["task_id"] for x in lines(out / "greedy" / "results.jsonl")]
    assert sorted(results) == sorted(ids)


@pytest.mark.model
def test_generation_only_then_evaluate(model_path, tmp_path):
    out = tmp_path / "run"
    gen = subprocess.run(
        uscd_cmd(
            "eval",
            "humaneval",
            "--limit",
            "2",
            "--methods",
            "cd",
            "--out",
            str(out),
            "--generation-only",
            "--quiet",
            "--no-traces",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert gen.returncode == 0, gen.stderr
    assert len(lines(out / "cd" / "samples.jsonl")) == 2 and not (out / "cd" / "results.jsonl").exists()
    assert not (out / "cd" / "traces.jsonl").exists()
    ev = subprocess.run(
        uscd_cmd("evaluate", str(out), "--quiet"), capture_output=True, text=True, timeout=600
    )
    assert ev.returncode == 0, ev.stderr
    assert len(lines(out / "cd" / "results.jsonl")) == 2
    assert json.loads((out / "cd" / "summary.json").read_text())["samples_executed"] == 2
