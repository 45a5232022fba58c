"""`uscd generate` and `uscd models` as a user runs them: output, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def uscd(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "uscd", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--demo", "--rule", "cd", "--rho", "-1"], "rho"),
        (["--demo", "--rule", "cd", "--alpha", "2"], "alpha"),
        (["--demo", "--rule", "uscd", "--threshold", "nan"], "threshold"),
        (["--demo", "--rule", "spa", "--omega", "nan"], "omega"),
        (["--demo", "--rule", "adadec", "--beams", "0"], "beams"),
        (["--demo", "--rule", "adadec", "--threshold", "-1"], "threshold"),
        (["--demo", "--top-p", "0"], "top-p"),
        (["--demo", "--temperature", "-0.5"], "temperature"),
        (["--demo", "--max-new-tokens", "0"], "positive integer"),
        (["--demo", "--threads", "0"], "threads"),
        (["--demo", "--rule", "beam"], "invalid choice"),
        (["--demo", "--model", "no-such-model"], "unknown model"),
        (["/no/such/prompt.py"], "does not exist"),
        (["--demo", "--lame", "/no/such/lame.py"], "does not exist"),
    ],
)
def test_bad_input_is_a_one_line_error(args, needle):
    assert_one_line_error(uscd("generate", *args), needle)


def test_empty_prompt_on_stdin():
    assert_one_line_error(uscd("generate", "-", stdin="   \n"), "empty")


def test_not_a_gguf(tmp_path):
    junk = tmp_path / "model.gguf"
    junk.write_text("hello")
    assert_one_line_error(uscd("generate", "--demo", "--model", str(junk)), "not a GGUF")


def test_models_lists_the_registry():
    proc = uscd("models", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]
    assert rows[0]["default"] and rows[1]["extra"] == "model-1-5b"
    assert_one_line_error(uscd("models", "verify", "nope"), "unknown model")


# ---------------------------------------------------------------------------------------------
# with the real model (serialised by the model_lock fixture)


@pytest.mark.model
def test_truncated_and_corrupt_gguf(model_path, tmp_path):
    truncated = tmp_path / "truncated.gguf"
    with open(model_path, "rb") as src:
        truncated.write_bytes(src.read(20_000_000))
    assert_one_line_error(uscd("generate", "--demo", "--model", str(truncated)), "could not load")
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + os.urandom(4096))
    assert_one_line_error(uscd("generate", "--demo", "--model", str(corrupt)), "could not load")


@pytest.mark.model
def test_prompt_longer_than_the_context(model_path):
    assert_one_line_error(
        uscd("generate", "--demo", "--n-ctx", "32", "--rule", "greedy"), "longer than the context"
    )


@pytest.mark.model
def test_lame_equal_to_standard_warns_that_contrast_is_a_no_op(model_path, tmp_path):
    prompt = tmp_path / "p.py"
    prompt.write_text('def add(a, b):\n    """Return a + b."""\n')
    proc = uscd("generate", str(prompt), "--lame", str(prompt), "--max-new-tokens", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "no-op" in proc.stderr
    out = json.loads(proc.stdout)
    assert any("no-op" in w for w in out["warnings"])


@pytest.mark.model
def test_dead_gate_warning(model_path):
    proc = uscd("generate", "--demo", "--rule", "uscd-official", "--max-new-tokens", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "can always fire" in proc.stderr and "151,936" in proc.stderr


@pytest.mark.model
def test_demo_with_trace_shows_code_and_the_trace(model_path):
    proc = uscd("generate", "--demo", "--trace", env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert "def running_max" in proc.stdout and "legend" in proc.stdout
    assert "return" in proc.stdout
    assert "tok/s" in proc.stderr


@pytest.mark.model
def test_json_output_has_the_trace(model_path):
    proc = uscd("generate", "--demo", "--json", "--rule", "cd", "--max-new-tokens", "24")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rule"] == "cd" and out["knobs"]["rho"] == 0.7
    assert len(out["trace"]) == out["stats"]["steps"] > 0
    assert {"token", "greedy_token", "uncertainty", "contrast", "head_size"} <= set(out["trace"][0])
