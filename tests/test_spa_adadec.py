"""SPA and AdaDec on their own: the rules (pure numpy), the anchored text, the rollouts, the knobs,
the teacher-forced threshold data, and the calibration grid (no model)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.test_batched import FakeBackend, fake_logits

from uscd.calibrate import SpaGrid, selection
from uscd.engine import Decoder, GenerationConfig
from uscd.engine.generation import CompletionText
from uscd.engine.lookahead import roll_out
from uscd.errors import UscdError
from uscd.methods import AdaDec, Rollout, Sampler, Spa, StdView, make_rule, top_candidates
from uscd.methods.spec import parse_methods
from uscd.prompts.anchor import anchored_span, masked_prompt
from uscd.prompts.auxiliary import FROM_PROMPT
from uscd.tasks.mbpp import standard_prompt

HE = 'def f(x):\n    """ Return x doubled.\n    Twice.\n    >>> f(2)\n    4\n    """\n'


def test_anchored_text_is_the_description_before_the_examples():
    start, end = anchored_span(HE)
    assert HE[start:end] == "Return x doubled.\n    Twice."
    assert masked_prompt(HE) == 'def f(x):\n    """ <unk>\n    >>> f(2)\n    4\n    """\n'
    assert FROM_PROMPT["masked-drop"](HE) == 'def f(x):\n    """ \n    >>> f(2)\n    4\n    """\n'
    mbpp = standard_prompt("Write a function to add two numbers.", "assert add(1, 2) == 3")
    assert masked_prompt(mbpp) == '"""\n<unk>\nassert add(1, 2) == 3\n"""\n'
    single = "import os\n\ndef g():\n    '''Say hi.\n    '''\n"
    assert masked_prompt(single) == "import os\n\ndef g():\n    '''<unk>\n    '''\n"
    assert masked_prompt("def h():\n    pass\n") == "def h():\n    pass\n"  # nothing to anchor
    helper = 'def a():\n    """Helper."""\n\ndef b():\n    """Main task.\n    """\n'
    assert masked_prompt(helper) == 'def a():\n    """Helper."""\n\ndef b():\n    """<unk>\n    """\n'


def test_spa_with_omega_one_is_greedy_and_reads_no_masked_prompt():
    view = StdView(fake_logits([1, 2, 3]))
    rule = Spa(omega=1.0)
    assert not rule.needs_aux(view)
    step = rule.score(view, None)
    assert step.scores.argmax() == view.greedy_token and not step.contrast
    masked = fake_logits([1, 3])
    amplified = Spa(omega=2.0).score(view, masked)
    expected = view.logits + (view.logits - masked)
    np.testing.assert_allclose(amplified.scores.values, expected, rtol=1e-6)
    assert amplified.contrast and amplified.uncertain


def test_spa_knobs_and_auxiliary_prompt():
    assert Spa().aux == ("masked",) and Spa(mask="drop").aux == ("masked-drop",)
    for bad in ({"omega": float("nan")}, {"weighting": "softmax"}, {"mask": "blank"}):
        with pytest.raises(UscdError):
            Spa(**bad)
    (spec,) = parse_methods("anchor=spa:omega=2:weighting=prob:mask=drop")
    rule = spec.build({})
    assert (rule.omega, rule.weighting, rule.mask) == (2.0, "prob", "drop")
    assert rule.knobs() == {"omega": 2.0, "weighting": "prob", "mask": "drop"}


def test_adadec_fires_on_entropy_and_reranks_by_mean_log_probability():
    flat = StdView(np.array([1.0, 0.9, 0.8, -5.0, -5.0], dtype=np.float32))
    peaked = StdView(np.array([9.0, 0.0, 0.0, 0.0, 0.0], dtype=np.float32))
    rule = AdaDec(threshold=0.5, beams=3, length=2)
    assert rule.lookahead(peaked) is None and not rule.score(peaked, None).uncertain
    np.testing.assert_array_equal(rule.lookahead(flat), [0, 1, 2])
    rollouts = (
        Rollout(0, np.array([-3.0, -3.0])),  # the greedy candidate leads into unlikely code
        Rollout(1, np.array([-0.1, -0.1])),
        Rollout(2, np.array([], dtype=float), finished=True),
    )
    step = rule.rerank(flat, rollouts)
    logp = flat.logp[[0, 1, 2]].astype(np.float64)
    expected = [(logp[0] - 6) / 3, (logp[1] - 0.2) / 3, logp[2] / 1]
    np.testing.assert_allclose(step.scores.values, expected, rtol=1e-5)
    assert step.scores.argmax() == int(np.argmax(expected)) == 1
    assert step.contrast and step.uncertain and step.head_size == 3
    assert AdaDec(beams=1).lookahead(flat) is None  # one candidate: nothing to rerank


def test_top_candidates_are_best_first_with_ties_to_the_lower_id():
    logits = np.array([0.0, 2.0, 5.0, 2.0, -1.0], dtype=np.float32)
    np.testing.assert_array_equal(top_candidates(logits, 3), [2, 1, 3])
    np.testing.assert_array_equal(top_candidates(logits, 9), [2, 1, 3, 0, 4])


def test_adadec_knobs_are_checked():
    for bad in ({"threshold": -1.0}, {"beams": 0}, {"length": 0}):
        with pytest.raises(UscdError):
            AdaDec(**bad)
    (spec,) = parse_methods("adadec:threshold=1.2:beams=2:length=4")
    assert spec.build({}).knobs() == {"threshold": 1.2, "beams": 2, "length": 4}


def test_a_rollout_stops_at_a_stop_sequence_and_at_eos():
    backend = FakeBackend()
    dec = Decoder(backend)
    dec.generate("def f():\n", None, make_rule("greedy"), Sampler(), GenerationConfig(max_new_tokens=3))
    held = list(dec.std.tokens)
    long = roll_out(backend, dec.fork(), 7, CompletionText(()), 6)[0]
    assert (
        long.logps.size == 6
        and not long.finished
        and long.tokens[0] == int(np.argmax(fake_logits([*held, 7])))
    )
    piece = backend.piece(long.tokens[1]).decode()
    stopped, evaluated = roll_out(backend, dec.fork(), 7, CompletionText((piece,)), 6)
    assert stopped.finished and stopped.logps.size <= 2 and evaluated == stopped.logps.size
    eos, evaluated = roll_out(backend, dec.fork(), 0, CompletionText(()), 6)
    assert eos.finished and eos.logps.size == 0 and evaluated == 0
    expected = float(fake_logits([*held, 7])[long.tokens[0]]) - np.log(np.exp(fake_logits([*held, 7])).sum())
    assert long.logps[0] == pytest.approx(expected, rel=1e-5)


def test_rollouts_never_run_past_the_context():
    backend = FakeBackend(n_ctx=40)
    rule = AdaDec(threshold=0.0, length=5)
    gen = Decoder(backend).generate("q" * 30, None, rule, Sampler(), GenerationConfig(max_new_tokens=8))
    assert len(gen.tokens) == 8 and gen.contrast_steps >= 1


def test_spa_grid_and_selection_prefer_omega_closest_to_one_on_ties():
    grid = SpaGrid(omegas=(1.25, 2.0))
    specs = grid.methods()
    assert [s.rule for s in specs] == ["greedy", "spa", "spa"]
    summaries = {"greedy": {"pass@1": 0.3}}
    for spec in specs[1:]:
        summaries[spec.label] = {"pass@1": 0.4, "generation": {"contrast_rate": 1.0, "uncertain_rate": 1.0}}
    chosen = selection(summaries, grid)
    assert chosen["rule"] == "spa" and chosen["knobs"]["omega"] == 1.25
    with pytest.raises(UscdError):
        SpaGrid(omegas=())


def test_teacher_forced_steps_score_each_reference_token():
    from uscd.calibrate_adadec import teacher_forced_steps

    backend = FakeBackend()
    got = teacher_forced_steps(backend, [("def f():\n", "  return 1\n"), ("abc", "")])
    prompt, ref = backend.tokenize("def f():\n"), backend.tokenize("  return 1\n")
    assert got.problems == 1 and got.entropy.size == len(ref)
    for i, token in enumerate(ref):
        view = StdView(fake_logits(prompt + ref[:i]))
        assert got.entropy[i] == pytest.approx(view.uncertainty("entropy"))
        assert got.top1[i] == (view.greedy_token == token)
        assert got.rank[i] == 1 + int(
            (fake_logits(prompt + ref[:i]) > fake_logits(prompt + ref[:i])[token]).sum()
        )
    gated = got.gated(0.0, 3)
    assert gated["fire_rate"] == 1.0 and gated["in_top3_rate_when_gated"] >= gated["top1_rate_when_gated"]


def test_intent_knobs():
    from uscd.methods import IntentCoding

    (spec,) = parse_methods("intent:alphas=0/0.5/2:mask=token")
    rule = spec.build({})
    assert rule.aux == ("masked",) and rule.knobs() == {"alphas": "0/0.5/2", "mask": "token"}
    assert IntentCoding().aux == ("masked-drop",)
    with pytest.raises(UscdError):
        IntentCoding(alphas="0/x")
    view = StdView(fake_logits([4, 5]))
    step = IntentCoding(alphas="0").score(view, fake_logits([4]))
    assert step.scores.argmax() == view.greedy_token  # strength 0 alone is greedy


def test_eval_runs_the_new_rules_and_records_their_knobs(tmp_path, monkeypatch):
    """`uscd eval --methods spa,adadec,intent` on the fake model: the masked prompts are built per
    problem, both drivers write the same samples, the knobs (and a calibration) reach the config."""
    import json

    from uscd import engine, models, runner
    from uscd.run.settings import EvalSettings, GenerationSettings, RunSettings
    from uscd.runs import read_jsonl

    backend = FakeBackend()
    monkeypatch.setattr(engine, "open_engine", lambda *a, **k: engine.Engine(backend, Decoder(backend)))
    monkeypatch.setattr(models, "describe", lambda path: {"name": "fake", "sha256": "0" * 64})
    calibration = {"rule": "adadec", "knobs": {"threshold": 0.9}, "source": "cal.json"}

    def run(out, batch):
        methods = runner.parse_methods("spa:omega=2,spa-drop=spa:mask=drop,adadec,intent")
        settings = EvalSettings(
            RunSettings("humaneval", {}, methods, out, limit=4, generation_only=True),
            generation=GenerationSettings(max_new_tokens=20, batch=batch, calibration=calibration),
        )
        runner.run_eval(settings)

    run(tmp_path / "one", 1)
    run(tmp_path / "two", 2)
    for label in ("spa", "spa-drop", "adadec", "intent"):
        one, two = (list(read_jsonl(tmp_path / d / label / "samples.jsonl")) for d in ("one", "two"))
        key = sorted((s["task_id"], s["completion"]) for s in one)
        assert len(one) == 4 and key == sorted((s["task_id"], s["completion"]) for s in two)
        assert all(s["finish_reason"] != "error" for s in one)
    config = json.loads((tmp_path / "one" / "adadec" / "config.json").read_text())
    assert config["method"]["knobs"] == {"threshold": 0.9, "beams": 3, "length": 5}
    spa = json.loads((tmp_path / "one" / "spa" / "config.json").read_text())["method"]["knobs"]
    assert spa == {"omega": 2.0, "weighting": "none", "mask": "token"}
    stats = [s["stats"] for s in list(read_jsonl(tmp_path / "one" / "adadec" / "samples.jsonl"))]
    assert sum(s["contrast_steps"] for s in stats) > 0 and sum(s["lookahead_tokens"] for s in stats) > 0
