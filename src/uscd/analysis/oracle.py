"""The single-flip oracle on one failing greedy program (issue #15, "Why").

1. Re-decode the greedy program A of a committed sample (its problem's prompt, the run's token
   limit and stop sequences), recording every step (uscd.analysis.recorder). A re-decode that
   differs from the committed completion is recorded as "not-reproduced" and not analysed
   (unless `accept_redecoded`: then the re-decoded A is analysed, if it fails the tests).
2. Run A against the task's full tests (the path `uscd evaluate` takes: uscd.run.evaluate.judge,
   inside uscd.execution's sandbox). A that passes is recorded as "a-passes" and not analysed.
3. At the `k` most uncertain steps of A that have another V_head token (`most_uncertain`, the
   branch method's choice), force each of at most `m` other V_head tokens, most probable first
   (the first is the runner-up), continue greedily (a ProgramDecoder's `branch`: on one stream the
   prefix's KV cache is copied; on a batched serve loop, uscd.analysis.study's `--batch`, the
   prefix's cells are taken from A's sequence when it still holds them), and run the tests on the
   result. One record per flip.

Only the problem's prompt, its lame prompt and its tests are used; the committed sample supplies
the completion A must reproduce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from uscd.analysis.recorder import GreedyReadingLame, StepRecorder
from uscd.engine import Decoder, Generation, GenerationConfig, Request
from uscd.errors import UscdError
from uscd.methods import MEASURES, PAPER_STD_NORM_THRESHOLD, Greedy, Sampler, Uscd
from uscd.methods.rule import check, finite
from uscd.search.branch import Point, most_uncertain
from uscd.search.decoders import ProgramDecoder, program_decoder
from uscd.tasks import Problem

# (problem, solution) -> does it pass every test suite of the problem?
Judge = Callable[[Problem, str], bool]

# the USCD settings whose contrast picks are recorded: the paper's gate and the calibrated one
CONTRASTS = (("paper", 0.7, PAPER_STD_NORM_THRESHOLD), ("cal", 0.3, 0.5))


@dataclass(frozen=True)
class OracleSettings:
    k: int = 5
    m: int = 4
    alpha: float = 0.1
    measure: str = "std-norm"
    max_new_tokens: int = 512
    accept_redecoded: bool = False
    contrasts: tuple[tuple[str, float, float], ...] = CONTRASTS  # (name, rho, std-norm threshold)

    def __post_init__(self) -> None:
        for knob in ("k", "m", "max_new_tokens"):
            value = getattr(self, knob)
            check(isinstance(value, int) and value >= 1, f"{knob} must be an integer >= 1, got {value}")
        check(finite(self.alpha) and 0 < self.alpha <= 1, f"alpha must be in (0, 1], got {self.alpha}")
        check(self.measure in MEASURES, f"measure must be one of {', '.join(MEASURES)}, got {self.measure!r}")

    def rules(self) -> dict[str, Uscd]:
        return {
            name: Uscd(rho=rho, alpha=self.alpha, measure="std-norm", threshold=threshold)
            for name, rho, threshold in self.contrasts
        }

    def record(self) -> dict:
        return {
            "k": self.k,
            "m": self.m,
            "alpha": self.alpha,
            "measure": self.measure,
            "max_new_tokens": self.max_new_tokens,
            "accept_redecoded": self.accept_redecoded,
            "contrasts": {
                name: {"rho": rho, "threshold": threshold, "measure": "std-norm"}
                for name, rho, threshold in self.contrasts
            },
        }


def run_oracle(
    decoder: Decoder | ProgramDecoder, problem: Problem, sample: dict, settings: OracleSettings, judge: Judge
) -> dict:
    """The oracle's line for one failing sample (see the module docstring for its statuses)."""
    programs = program_decoder(decoder)
    if sample.get("finish_reason") == "error":
        return _skipped(sample, settings, f"the committed sample is an error: {sample.get('error', '')}")
    if problem.lame_prompt is None:
        return _skipped(sample, settings, "the task gives this problem no lame prompt")
    recorder = StepRecorder(settings.measure, settings.alpha, settings.m, settings.rules())
    config = GenerationConfig(max_new_tokens=settings.max_new_tokens, stop=problem.stop, trace=False)
    lame = {"lame": problem.lame_prompt}
    reading_lame = Request(problem.prompt, lame, GreedyReadingLame(), Sampler(), config)
    try:
        a = programs.generate(reading_lame, hook=recorder)
    except UscdError as exc:  # e.g. a prompt longer than the context: this problem only
        return _skipped(sample, settings, f"the greedy program could not be decoded: {exc}")
    line = _line(problem, sample, a, recorder, settings)
    if not line["reproduced"] and not settings.accept_redecoded:
        return {
            **line,
            "status": "not-reproduced",
            "reason": "the re-decode differs from the committed completion",
        }
    line["a_passed"] = judge(problem, problem.solution(a.completion))
    if line["a_passed"]:
        return {**line, "status": "a-passes", "reason": "the re-decoded program passes the tests"}
    request = Request(problem.prompt, None, Greedy(), Sampler(), config)
    line["flips"] = flips(programs, request, problem, a, recorder, settings, judge)
    line["fixed"] = any(f["passed"] for f in line["flips"])
    return {**line, "status": "analysed"}


def flips(
    decoder: ProgramDecoder,
    request: Request,
    problem: Problem,
    a: Generation,
    recorder: StepRecorder,
    settings: OracleSettings,
    judge: Judge,
) -> list[dict]:
    """One record per forced token at the k most uncertain steps of A, in branching order."""
    points = recorder.points.points
    ranks_all = rank_all(points, settings.measure)
    out = []
    for rank, point in enumerate(most_uncertain(points, settings.measure, settings.k), 1):
        for alt, token in enumerate(point.alternatives):
            record = flip(decoder, request, problem, a, point, token, judge)
            picks = [name for name, column in recorder.picks.items() if column[point.step] == token]
            out.append(
                {**record, "rank": rank, "rank_all": ranks_all[point.step], "alt": alt, "picks": picks}
            )
    return out


def flip(
    decoder: ProgramDecoder,
    request: Request,
    problem: Problem,
    a: Generation,
    point: Point,
    token: int,
    judge: Judge,
) -> dict:
    """Force `token` at `point.step` of A, continue greedily, run the tests."""
    record = {"step": point.step, "uncertainty": round(float(point.uncertainty), 6), "token": token}
    record["text"] = decoder.piece(token).decode("utf-8", errors="replace")
    try:
        gen = decoder.branch(request, a, point.step, token)
    except UscdError as exc:  # e.g. the context is full: this flip is lost, and says so
        return {**record, "passed": False, "tokens": 0, "finish_reason": "error", "error": str(exc)}
    passed = judge(problem, problem.solution(gen.completion))
    record.update(passed=passed, tokens=gen.steps - point.step, finish_reason=gen.finish_reason)
    if passed:
        record["completion"] = gen.completion
    return record


def rank_all(points: list[Point], measure: str) -> dict[int, int]:
    """Each step's uncertainty rank among all of A's steps (1 = most uncertain; ties: earlier)."""
    sign = -1.0 if measure == "entropy" else 1.0  # as most_uncertain orders them
    ordered = sorted(points, key=lambda p: (sign * p.uncertainty, p.step))
    return {p.step: i for i, p in enumerate(ordered, 1)}


def _line(problem: Problem, sample: dict, a: Generation, recorder: StepRecorder, settings) -> dict:
    reproduced = a.completion == sample["completion"]
    line = {
        **_identity(sample),
        "reproduced": reproduced,
        "a_passed": None,
        "a_tokens": a.steps,
        "finish_reason": a.finish_reason,
        "lame_is_noop": problem.lame_is_noop,
        "settings": settings.record(),
        "steps": recorder.steps(),
        "flips": [],
        "fixed": False,
    }
    if not reproduced:
        line["a_completion"] = a.completion
    return line


def _identity(sample: dict) -> dict:
    return {"task_id": sample["task_id"], "sample_idx": int(sample["sample_idx"]), "status": "", "reason": ""}


def _skipped(sample: dict, settings: OracleSettings, reason: str) -> dict:
    return {**_identity(sample), "status": "skipped", "reason": reason, "settings": settings.record()}


def sandbox_judge(timeout_s: float, level: str) -> Judge:
    """The judge `uscd evaluate` uses: every suite of the problem, in the sandbox, at this level."""
    from uscd.execution import available_level
    from uscd.run.evaluate import judge

    resolved = available_level(level)

    def passes(problem: Problem, solution: str) -> bool:
        return judge(problem, solution, timeout_s, resolved)["status"] == "pass"

    return passes
