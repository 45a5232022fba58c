"""Chat mode on the real default model: `uscd generate --prompt-style chat`, and every decoding rule
through `uscd eval --prompt-style chat` (the lame conversation included)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from uscd.prompts.extract import extract_code

pytestmark = pytest.mark.model


def uscd(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "uscd", *args], capture_output=True, text=True, timeout=timeout
    )


def test_generate_chat_demo_shows_the_chat_and_the_extracted_code(model_path):
    proc = uscd("generate", "--prompt-style", "chat", "--demo", "--trace", "--rule", "greedy")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "<|im_start|>system" in out and "Please provide a self-contained Python script" in out
    assert "extracted code" in out
    code = out.split("extracted code", 1)[1]
    assert "def running_max(" in code


def test_generate_chat_json_keeps_reply_and_code(model_path):
    proc = uscd("generate", "--prompt-style", "chat", "--demo", "--json", "--rule", "uscd")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["reply"].startswith("Below is a Python script") and out["reply"].endswith(out["completion"])
    assert "def running_max(" in out["code"] and "```" not in out["code"]


def test_every_rule_runs_in_chat_mode(model_path, tmp_path):
    methods = "greedy,cd,cfg,uscd,uscd-official"
    args = ["eval", "humaneval", "--prompt-style", "chat", "--limit", "1", "--methods", methods]
    proc = uscd(*args, "--max-new-tokens", "96", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    for label in methods.split(","):
        config = json.loads((tmp_path / label / "config.json").read_text())
        assert config["prompt"]["style"] == "chat" and config["prompt"]["template_sha256"]
        (sample,) = [json.loads(x) for x in (tmp_path / label / "samples.jsonl").read_text().splitlines()]
        assert sample["finish_reason"] != "error", sample
        assert sample["reply"].startswith("Below is a Python script")
        # 96 tokens may end inside the repeated docstring: the record holds whatever extraction found
        assert sample["solution"] == extract_code(sample["reply"], "has_close_elements")
        summary = json.loads((tmp_path / label / "summary.json").read_text())
        assert set(summary["failures"]) >= {"no code found", "syntax error", "wrong answer", "timeout"}
    uses_lame = json.loads((tmp_path / "cd" / "samples.jsonl").read_text().splitlines()[0])["stats"]
    assert uses_lame["lame_prompt_tokens"] and uses_lame["shared_prefix_tokens"] > 50
