"""The single-flip oracle and the premise study's driver on a scripted fake model
(tests/scripted_model.py): a crafted task where greedy writes a wrong program and known flips fix
it. Programs run in the real sandbox, through the path `uscd evaluate` takes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.scripted_model import ScriptedBackend

from uscd.analysis import study
from uscd.analysis.oracle import OracleSettings, run_oracle, sandbox_judge
from uscd.analysis.recorder import contrast_pick
from uscd.analysis.stats import summarize
from uscd.engine import Decoder
from uscd.engine.backends import Capabilities
from uscd.errors import UscdError
from uscd.methods import StdView, Uscd, uncertainty
from uscd.prompts.lame import derive
from uscd.runs import read_jsonl
from uscd.tasks import Problem, Task


def prompt_of(name: str, doc: str, example: str, value: str) -> str:
    return f'def {name}(x):\n    """{doc}\n    >>> {name}({example})\n    {value}\n    """\n'


TRIPLE = prompt_of("triple", "Three times x.", "2", "6")
DOUBLE = prompt_of("double", "Two times x.", "2", "4")
IDENT = prompt_of("ident", "x itself.", "2", "2")
NEG = prompt_of("neg", "Minus x.", "2", "-2")

# triple: greedy writes "x * 2" (wrong). Uncertain steps: 11 ("x" .8 / "3" .2: "3 * x" passes),
# 15 ("2" .625 / "3" .375: "x * 3" passes), 16 ("\n" .9 / " " .1: "x * 2 + 0" fails).
# The lame prompt (no example) is surer of "x * 2" at 15 and 16, so its contrast picks "3" at 15
# (a fix) and " " at 16 (paper's rho 0.7 only); at 11 it agrees with the standard prompt.
W, Y, R, Z = "    return x * 2\n", "    return x * 2 + 0\n", "    return x * 3\n", "    return 3 * x\n"
SCRIPTS = {
    TRIPLE: [(W, 0.45), (Y, 0.05), (R, 0.3), (Z, 0.2)],
    derive(TRIPLE, "python").lame: [(W, 0.74), (Y, 0.01), (R, 0.05), (Z, 0.2)],
    # double: greedy "x + 2"; the one flip gives "x + 3": nothing fixes it
    DOUBLE: [("    return x + 2\n", 0.6), ("    return x + 3\n", 0.4)],
    derive(DOUBLE, "python").lame: [("    return x + 2\n", 0.5), ("    return x + 3\n", 0.5)],
    IDENT: [("    return x\n", 1.0)],
    derive(IDENT, "python").lame: [("    return x\n", 1.0)],
    NEG: [("    return x\n", 1.0)],
    derive(NEG, "python").lame: [("    return x\n", 1.0)],
}
TESTS = {"triple": (2, 6, 5, 15), "double": (2, 4, 5, 10), "ident": (2, 2, 7, 7), "neg": (2, -2, 3, -3)}


def problem(task_id: str, prompt: str, name: str) -> Problem:
    a, fa, b, fb = TESTS[name]
    tail = f"\n\ndef check(f):\n    assert f({a}) == {fa}\n    assert f({b}) == {fb}\n\ncheck({name})\n"
    lame = derive(prompt, "python").lame
    return Problem(task_id, prompt, lame, ("\ndef ",), name, prompt, tail, lame_is_noop=lame == prompt)


PROBLEMS = [
    problem("T/0", TRIPLE, "triple"),
    problem("T/1", DOUBLE, "double"),
    problem("T/2", IDENT, "ident"),
    problem("T/3", NEG, "neg"),
]
# the committed run: T/2 passed; T/3's committed completion is not what the model decodes now
COMMITTED = {"T/0": (W, "fail"), "T/1": ("    return x + 2\n", "fail"), "T/2": ("    return x\n", "pass"),
             "T/3": ("    return -x\n", "fail")}  # fmt: skip


class ScriptedTask(Task):
    name = "scripted"

    def _load(self) -> list[Problem]:
        self._set_source("scripted", "0" * 64)
        return list(PROBLEMS)


def sample(task_id: str) -> dict:
    return {"task_id": task_id, "sample_idx": 0, "completion": COMMITTED[task_id][0], "finish_reason": "eos"}


@pytest.fixture(scope="module")
def judge():
    return sandbox_judge(10.0, "auto")


def decoder() -> Decoder:
    return Decoder(ScriptedBackend(SCRIPTS))


def token(char: str) -> int:
    return ScriptedBackend(SCRIPTS).tokenize(char)[0]


# -- the oracle on one problem ---------------------------------------------------------------------


def test_the_oracle_finds_the_flips_that_fix_the_greedy_program(judge):
    line = run_oracle(decoder(), PROBLEMS[0], sample("T/0"), OracleSettings(), judge)
    assert (line["status"], line["reproduced"], line["a_passed"]) == ("analysed", True, False)
    assert line["a_tokens"] == len(W) + 1  # every character, then EOS
    by_step = {f["step"]: f for f in line["flips"]}
    assert sorted(by_step) == [11, 15, 16]  # the three uncertain steps, one alternative each
    assert [f["step"] for f in line["flips"]] == [15, 11, 16]  # most uncertain first; ties: earlier
    assert [f["rank"] for f in line["flips"]] == [1, 2, 3]
    assert [f["rank_all"] for f in line["flips"]] == [1, 2, 3]
    assert by_step[15]["token"] == token("3") and by_step[15]["passed"]
    assert by_step[15]["completion"] == R
    assert by_step[11]["token"] == token("3") and by_step[11]["passed"]
    assert by_step[11]["completion"] == Z
    assert by_step[16]["token"] == token(" ") and not by_step[16]["passed"]
    assert "completion" not in by_step[16]
    assert all(f["alt"] == 0 for f in line["flips"])  # each is the runner-up
    assert line["fixed"] is True


def test_the_contrast_picks_of_each_flip(judge):
    line = run_oracle(decoder(), PROBLEMS[0], sample("T/0"), OracleSettings(), judge)
    picks = {f["step"]: f["picks"] for f in line["flips"]}
    assert picks == {15: ["paper", "cal"], 11: [], 16: ["paper"]}
    steps = line["steps"]
    assert steps["pick"]["paper"][15] == token("3") and steps["pick"]["paper"][11] == token("x")
    assert steps["pick"]["cal"][16] == token("\n")
    # confident steps: the contrast has one head token and keeps it
    assert steps["pick"]["paper"][0] == steps["token"][0]


def test_the_recorded_step_measures(judge):
    line = run_oracle(decoder(), PROBLEMS[0], sample("T/0"), OracleSettings(), judge)
    steps = line["steps"]
    assert len(steps["token"]) == len(steps["js"]) == len(steps["head"]) == line["a_tokens"]
    backend = ScriptedBackend(SCRIPTS)
    logits = backend.logits(backend.tokenize(TRIPLE + W[:15]))
    p = np.exp(logits.astype(np.float64))
    p /= p.sum()
    for measure in ("std", "std-norm", "entropy", "margin", "maxprob"):
        assert steps[measure][15] == pytest.approx(uncertainty(measure, p.astype(np.float32)), abs=1e-5)
    assert steps["head"][15] == [token("2"), token("3")]
    assert steps["js"][15] > 0.05 and steps["js"][0] < 1e-3  # the prompts disagree only where they should


def test_a_program_the_model_no_longer_writes_is_not_reproduced(judge):
    line = run_oracle(decoder(), PROBLEMS[3], sample("T/3"), OracleSettings(), judge)
    assert line["status"] == "not-reproduced" and line["reproduced"] is False
    assert line["a_completion"] == "    return x\n" and line["flips"] == []
    redecoded = run_oracle(
        decoder(), PROBLEMS[3], sample("T/3"), OracleSettings(accept_redecoded=True), judge
    )
    assert redecoded["status"] == "analysed" and redecoded["a_passed"] is False
    assert redecoded["flips"] == []  # the model is sure of every step: nothing to flip


def test_a_program_that_passes_now_is_not_analysed(judge):
    line = run_oracle(decoder(), PROBLEMS[2], sample("T/2"), OracleSettings(), judge)
    assert (line["status"], line["a_passed"], line["flips"]) == ("a-passes", True, [])


def test_an_error_sample_is_skipped(judge):
    bad = {**sample("T/0"), "finish_reason": "error", "error": "context full"}
    line = run_oracle(decoder(), PROBLEMS[0], bad, OracleSettings(), judge)
    assert line["status"] == "skipped" and "context full" in line["reason"]


def test_a_problem_that_cannot_be_decoded_is_skipped_alone(judge):
    small = Decoder(ScriptedBackend(SCRIPTS, n_ctx=20))  # shorter than the prompt
    line = run_oracle(small, PROBLEMS[0], sample("T/0"), OracleSettings(), judge)
    assert line["status"] == "skipped" and "could not be decoded" in line["reason"]


def test_m_caps_the_alternatives_and_k_the_steps(judge):
    line = run_oracle(decoder(), PROBLEMS[0], sample("T/0"), OracleSettings(k=1, m=1), judge)
    assert [(f["step"], f["rank"]) for f in line["flips"]] == [(15, 1)]


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"k": 0}, "k must be"),
        ({"m": 1.5}, "m must be"),
        ({"alpha": 0}, "alpha"),
        ({"measure": "x"}, "measure"),
    ],
)
def test_bad_settings_are_refused(knobs, message):
    with pytest.raises(UscdError, match=message):
        OracleSettings(**knobs)


def test_contrast_pick_on_a_constructed_step():
    std = np.log(np.array([0.6, 0.4, 1e-9], dtype=np.float32))
    lame = np.log(np.array([0.9, 0.1, 1e-9], dtype=np.float32))
    view = StdView(std)
    # rho 0.7: log .6 - .7 log .9 = -0.437 < log .4 - .7 log .1 = 0.696: the contrast picks token 1
    assert contrast_pick(Uscd(rho=0.7), view, lame) == 1
    assert contrast_pick(Uscd(rho=0.0), view, lame) == 0  # no contrast: greedy's token
    # when the gate fires, the rule's own choice is the recorded pick
    always = Uscd(rho=0.7, threshold=1.0)
    assert int(np.argmax(always.score(view, lame).scores.dense(3))) == contrast_pick(always, view, lame)


# -- the study over a run folder -------------------------------------------------------------------


def write_run(path: Path, rule: str = "greedy") -> Path:
    path.mkdir(parents=True)
    config = {"method": {"rule": rule, "label": rule}, "sampling": {"temperature": 0.0},
              "task": {"name": "scripted"}, "config_hash": "abc"}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    with open(path / "samples.jsonl", "w") as fh:
        for p in PROBLEMS:
            fh.write(json.dumps(sample(p.task_id)) + "\n")
    with open(path / "results.jsonl", "w") as fh:
        for p in reversed(PROBLEMS):  # results arrive in completion order
            fh.write(
                json.dumps({"task_id": p.task_id, "sample_idx": 0, "status": COMMITTED[p.task_id][1]}) + "\n"
            )
    return path


def run(path: Path, judge, **kw) -> dict:
    return study.run_study(
        path, decoder(), ScriptedTask(), OracleSettings(), judge, model={"name": "s"}, **kw
    )


def dies_in(task_id: str, judge):
    """`judge`, except that judging `task_id`'s programs kills the study (as Ctrl-C would)."""

    def judging(problem, solution):
        if problem.task_id == task_id:
            raise KeyboardInterrupt
        return judge(problem, solution)

    return judging


def oracle_bytes(path: Path) -> bytes:
    return (path / "premise" / "oracle.jsonl").read_bytes()


def test_a_study_writes_one_line_per_failing_problem_and_the_summary(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    summary = run(path, judge)
    lines = list(read_jsonl(path / "premise" / "oracle.jsonl"))
    assert [(x["task_id"], x["status"]) for x in lines] == [
        ("T/0", "analysed"), ("T/1", "analysed"), ("T/3", "not-reproduced")
    ]  # fmt: skip
    assert summary["counts"]["fixable"] == 1 and summary["counts"]["analysed"] == 2
    assert summary["contrast_picks"]["paper"]["pick_fixes"] == 1
    assert summary["positions"]["rank"] == {"1": 1, "2": 1}
    assert json.loads((path / "premise" / "summary.json").read_text()) == summary
    assert json.loads((path / "premise" / "config.json").read_text())["oracle"]["k"] == 5


def test_the_summary_regenerates_from_the_lines(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    summary = run(path, judge)
    (path / "premise" / "summary.json").unlink()
    assert study.write_summary(path) == summary
    assert summarize(list(read_jsonl(path / "premise" / "oracle.jsonl"))) == summary


def test_a_killed_study_resumes_to_the_same_file(tmp_path, judge):
    straight = write_run(tmp_path / "straight")
    run(straight, judge)
    killed = write_run(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        run(killed, dies_in("T/1", judge))  # the second problem
    assert [x["task_id"] for x in read_jsonl(killed / "premise" / "oracle.jsonl")] == ["T/0"]
    with open(killed / "premise" / "oracle.jsonl", "a") as fh:  # and a line torn by kill -9
        fh.write('{"task_id": "T/1", "sta')
    run(killed, judge)
    assert oracle_bytes(killed) == oracle_bytes(straight)


def test_a_resume_never_redoes_a_problem(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    run(path, judge, limit=1)
    seen = []

    def counting(problem, solution):
        seen.append(problem.task_id)
        return judge(problem, solution)

    run(path, counting)
    assert "T/0" not in seen and "T/1" in seen


def test_a_resume_with_other_settings_is_refused(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    run(path, judge, limit=1)
    with pytest.raises(UscdError, match="other settings"):
        study.run_study(path, decoder(), ScriptedTask(), OracleSettings(k=3), judge, model={"name": "s"})


def test_a_run_that_is_not_greedy_is_refused(tmp_path, judge):
    path = write_run(tmp_path / "uscd", rule="uscd")
    with pytest.raises(UscdError, match="not a greedy run"):
        run(path, judge)


def test_a_run_without_results_is_refused(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    (path / "results.jsonl").unlink()
    with pytest.raises(UscdError, match=r"no results\.jsonl"):
        run(path, judge)
    with pytest.raises(UscdError, match="does not exist"):
        study.write_summary(path)


class BatchableScriptedBackend(ScriptedBackend):
    """The scripted model on tests/test_batched.py's fake multi-sequence context."""

    capabilities = Capabilities(multi_sequence=True, views=False)


def by_problem(path: Path) -> dict[str, dict]:
    return {x["task_id"]: x for x in read_jsonl(path / "premise" / "oracle.jsonl")}


def run_batched(path: Path, judge, batch: int = 3) -> dict:
    dec, settings = Decoder(BatchableScriptedBackend(SCRIPTS)), OracleSettings()
    return study.run_study(path, dec, ScriptedTask(), settings, judge, model={"name": "s"}, batch=batch)


def test_a_batched_study_writes_the_lines_of_a_single_stream_one(tmp_path, judge):
    """Several problems at once on one serve loop: the same lines (in completion order), the same
    summary; the fake context is exact, so no near-tie differs here."""
    single_stream = write_run(tmp_path / "single")
    expected = run(single_stream, judge)
    batched = write_run(tmp_path / "batched")
    backend = BatchableScriptedBackend(SCRIPTS)
    got = study.run_study(
        batched, Decoder(backend), ScriptedTask(), OracleSettings(), judge, model={"name": "s"}, batch=3
    )  # (its own backend: the test looks at the contexts it made)
    assert by_problem(batched) == by_problem(single_stream)
    assert got == expected
    assert json.loads((batched / "premise" / "config.json").read_text())["decoding"] == {"batch": 3}
    assert backend.contexts and all(ctx.closed for ctx in backend.contexts)  # the loop's context is freed


def test_a_batched_study_resumes_and_refuses_another_batch_size(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    run(path, judge, limit=1)  # one stream, as every study made before `batch` existed
    config = path / "premise" / "config.json"
    record = json.loads(config.read_text())
    del record["decoding"]  # a study written before the batch size was recorded resumes as batch 1
    config.write_text(json.dumps(record))
    run(path, judge, limit=2)
    assert [x["task_id"] for x in read_jsonl(path / "premise" / "oracle.jsonl")] == ["T/0", "T/1"]
    with pytest.raises(UscdError, match=r"other settings.*decoding"):
        run_batched(path, judge, batch=2)


def test_a_batch_needs_a_multi_sequence_backend(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    with pytest.raises(UscdError, match="cannot decode several sequences"):
        run(path, judge, batch=2)


def test_a_judge_that_dies_in_a_batch_stops_the_study_and_keeps_the_lines_written(tmp_path, judge):
    path = write_run(tmp_path / "greedy")
    with pytest.raises(KeyboardInterrupt):
        run_batched(path, dies_in("T/1", judge))
    written = [x["task_id"] for x in read_jsonl(path / "premise" / "oracle.jsonl")]
    assert "T/1" not in written
    run_batched(path, judge)
    assert sorted(by_problem(path)) == ["T/0", "T/1", "T/3"]


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def cli_run(tmp_path, monkeypatch):
    """`uscd analyze premise` on the scripted run, with the scripted model in place of the run's."""
    from uscd.cli import analyze
    from uscd.run import folder

    monkeypatch.setattr(
        analyze, "open_run_decoder", lambda config, model, threads: (decoder(), {"name": "s"})
    )
    monkeypatch.setattr(folder, "task_of_run", lambda config: ScriptedTask())
    return write_run(tmp_path / "greedy")


def test_the_command_runs_the_study_and_prints_its_table(cli_run, capsys):
    from uscd.cli import main

    assert main(["analyze", "premise", str(cli_run)]) == 0
    out = capsys.readouterr().out
    assert "T/0: analysed (3 flips, 2 pass)" in out and "T/3: not-reproduced" in out
    assert "fixable by one flip" in out and "1 of 2 (50.0%)" in out
    (cli_run / "premise" / "summary.json").unlink()
    assert main(["analyze", "premise", str(cli_run), "--summary-only"]) == 0
    assert (cli_run / "premise" / "summary.json").is_file()
    assert "1 of 2 (50.0%)" in capsys.readouterr().out


def test_the_command_limit(cli_run, capsys):
    from uscd.cli import main

    assert main(["analyze", "premise", str(cli_run), "--limit", "1", "--k", "1", "--m", "1"]) == 0
    lines = list(read_jsonl(cli_run / "premise" / "oracle.jsonl"))
    assert [x["task_id"] for x in lines] == ["T/0"] and len(lines[0]["flips"]) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "premise", "/nonexistent/run"], "is not a folder"),
        (["analyze", "premise", "{tmp}", "--summary-only"], "does not exist"),
        (["analyze", "premise", "{tmp}"], "is not a run folder"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, capsys, argv, message):
    from uscd.cli import main

    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_analyze_needs_an_analysis(capsys):
    from uscd.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["analyze"])
    assert exit_info.value.code == 2


def test_reading_the_lame_prompt_on_every_step_leaves_greedy_unchanged():
    """A is re-decoded with the lame context kept in sync; its tokens are plain greedy's."""
    from tests.test_batched import FakeBackend, make_requests

    from uscd.analysis.recorder import GreedyReadingLame, StepRecorder
    from uscd.methods import Greedy, Sampler

    for r in make_requests("uscd", n=4):
        plain = Decoder(FakeBackend()).generate(r.prompt, None, Greedy(), Sampler(), r.config)
        recorder = StepRecorder("std-norm", 0.1, 4, OracleSettings().rules())
        reading = Decoder(FakeBackend()).generate(
            r.prompt, r.aux_prompts, GreedyReadingLame(), Sampler(), r.config, hook=recorder
        )
        assert reading.tokens == plain.tokens and reading.completion == plain.completion
        assert reading.lame_syncs == reading.steps  # the lame context was read on every step
        assert len(recorder.columns["js"]) == reading.steps
