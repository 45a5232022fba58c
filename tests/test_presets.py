"""Per-model presets (uscd.methods.presets): the measured branch preset of the 0.5B model on every
surface — `--methods @branch` in eval (the run config records the preset and its knobs), `uscd
generate --preset branch`, `uscd serve --method @branch` and a request's `{"preset": "branch"}` —
and one-line errors for a model without it, an unknown preset, and a preset given knobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.test_branch_search import Fake
from tests.test_cli_generate import assert_one_line_error, uscd

from uscd.errors import UscdError
from uscd.methods import BranchSearch, make_rule
from uscd.methods.presets import PRESETS, find_preset, model_key
from uscd.methods.spec import parse_methods

ROOT = Path(__file__).resolve().parents[1]
SMALL, LARGE = "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"


def test_the_default_model_has_the_measured_branch_preset_under_every_name():
    for name in (None, "default", "0.5b", SMALL):
        assert model_key(name) == SMALL
        preset = find_preset("branch", name)
        assert preset.measured and preset.rule == "branch"
    rule = make_rule(preset.rule, **preset.knobs)
    assert isinstance(rule, BranchSearch)
    assert (rule.k, rule.m, rule.max_branches, rule.measure, rule.alpha) == (3, 2, 6, "std-norm", 0.1)


def test_a_measured_preset_is_its_committed_run():
    """The run folder holds these knobs on this model, and the evidence quotes its summaries:
    pass@1 on the full tests (and the baseline's), and on the held-out tests; the docs say the same."""
    for model, presets in PRESETS.items():
        for preset in (p for p in presets.values() if p.measured):
            run, baseline = ROOT / preset.run, ROOT / preset.baseline
            config = json.loads((run / "config.json").read_text())
            assert config["model"]["name"] == model and config["method"]["rule"] == preset.rule
            assert config["method"]["knobs"] == {**config["method"]["knobs"], **preset.knobs}
            full = json.loads((run / "summary.json").read_text())["pass@1"]
            held_out = json.loads((run / "heldout_summary.json").read_text())["pass@1_heldout"]
            greedy = json.loads((baseline / "summary.json").read_text())["pass@1"]
            greedy_held_out = json.loads((baseline / "heldout_summary.json").read_text())["pass@1_heldout"]
            doc = (ROOT / preset.evidence.partition(",")[0]).read_text()
            for value in (full, held_out, greedy, greedy_held_out):
                quoted = f"{100 * value:.1f} %"
                assert quoted in preset.evidence and quoted in doc, (preset.name, quoted)


def test_the_larger_model_has_its_own_measured_preset():
    for name in ("1.5b", LARGE):
        preset = find_preset("branch", name)
        assert preset.measured and "1.5b" in preset.run and preset is not find_preset("branch", None)


def test_a_model_without_the_preset_is_a_one_line_error_naming_the_models_with_it(tmp_path):
    other = str(tmp_path / "other-coder-7b.gguf")
    with pytest.raises(UscdError) as info:
        find_preset("branch", other)
    message = str(info.value)
    assert f"no preset 'branch' for model {model_key(other)}" in message
    assert SMALL in message and LARGE in message and "\n" not in message
    with pytest.raises(UscdError, match="unknown preset 'fast'; presets: branch"):
        find_preset("fast", None)
    assert set(PRESETS) == {SMALL, LARGE}  # a preset only where a run on that model is committed


def test_the_method_grammar_takes_presets():
    plain, labelled = parse_methods("@branch,b=@branch")
    assert (plain.label, plain.rule, plain.preset) == ("branch", "branch", "branch")
    assert (labelled.label, labelled.preset) == ("b", "branch")
    assert plain.build({}) == make_rule("branch", **find_preset("branch", None).knobs)
    with pytest.raises(UscdError, match="takes no options"):
        parse_methods("@branch:k=2")
    with pytest.raises(UscdError, match="no preset 'branch' for model"):
        parse_methods("greedy,@branch", "/models/other-coder-7b.gguf")


def test_eval_records_the_preset_and_its_knobs(tmp_path, monkeypatch):
    from tests.test_runner import Recorder

    from uscd import engine, models, runner
    from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings

    monkeypatch.setattr(engine, "open_engine", lambda *a, **k: engine.Engine(Fake()))
    monkeypatch.setattr(models, "describe", lambda path: {"name": "fake", "sha256": "0" * 64})
    settings = EvalSettings(
        RunSettings("humaneval", {}, parse_methods("b=@branch"), tmp_path, limit=1),
        generation=GenerationSettings(max_new_tokens=6),
    )
    runner.run_eval(settings, progress=Recorder())
    method = json.loads((tmp_path / "b" / "config.json").read_text())["method"]
    assert method["preset"] == "branch" and method["rule"] == "branch"
    assert method["knobs"] == BranchSearch(**find_preset("branch", None).knobs).knobs()


def test_the_command_line_refuses_a_model_without_the_preset_before_loading_it(tmp_path):
    other = tmp_path / "other-coder-7b.gguf"
    other.write_bytes(b"not a model")  # never loaded: the preset is refused first
    assert_one_line_error(
        uscd("eval", "humaneval", "--methods", "@branch", "--model", str(other)), "no preset"
    )
    assert_one_line_error(
        uscd("generate", "--demo", "--preset", "branch", "--model", str(other)), "no preset"
    )
    assert_one_line_error(uscd("generate", "--demo", "--preset", "branch", "--rule", "greedy"), "drop --rule")
    assert_one_line_error(uscd("generate", "--demo", "--preset", "branch", "--max-branches", "2"), "knob")
    assert_one_line_error(uscd("serve", "--method", "@branch", "--model", str(other)), "no preset")


def test_generate_with_the_preset(monkeypatch, capsys):
    from uscd import engine
    from uscd.cli import main

    monkeypatch.setattr(engine, "open_decoder", lambda *a, **k: engine.Decoder(Fake()))
    assert main(["generate", "--demo", "--preset", "branch", "--json", "--max-new-tokens", "8"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["rule"] == "branch" and out["preset"]["preset"] == "branch" and out["preset"]["measured"]
    assert out["knobs"]["max_branches"] == 6 and out["search"]["outcome"] in ("a-kept", "a-passed")
    assert "preset branch" in captured.err


def test_the_server_takes_presets():
    from uscd.serve.errors import ApiError
    from uscd.serve.method import ServerMethods

    methods = ServerMethods("@branch,greedy")
    assert methods.describe()["methods"]["branch"]["preset"] == "branch"
    method = ServerMethods("greedy").resolve({"preset": "branch"})
    assert (method.label, method.rule_name, method.rule.max_branches) == ("@branch", "branch", 6)
    for options, needle in (
        ({"preset": "branch", "k": 2}, "takes no other options"),
        ({"preset": "fast"}, "unknown preset"),
    ):
        with pytest.raises(ApiError, match=needle):
            ServerMethods("greedy").resolve(options)
    with pytest.raises(ApiError, match="no preset 'branch' for model"):
        ServerMethods("greedy", model="/models/other-coder-7b.gguf").resolve({"preset": "branch"})
    with pytest.raises(UscdError, match="no preset"):
        ServerMethods("@branch", model="/models/other-coder-7b.gguf")
    assert ServerMethods("@branch", model="1.5b").describe()["methods"]["branch"]["preset"] == "branch"
