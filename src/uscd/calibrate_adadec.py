"""AdaDec's entropy threshold for one model, learned as the authors learn it (adadec 0.1.0,
``prepare_adadec``): feed reference solutions token by token (teacher forcing), record at every
step the entropy of the next-token distribution and whether the reference token is the model's
top-1, fit a class-balanced logistic regression of "top-1" on entropy (80/20 split, seed 42),
take the probability cut-off that maximises accuracy on the held-out 20 %, and map it back to an
entropy. Steps above that entropy are the ones where greedy is more likely wrong than right.

They teacher-force BigCodeBench; here the data are MBPP's train and validation problems (ids
outside the 11-510 test split), never a test set. Needs scikit-learn (``pip install 'uscd[calibrate]'``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from uscd.errors import UscdError
from uscd.methods import StdView

SPLIT_SEED = 42
TEST_SIZE = 0.2
# the authors' learned thresholds (SYSUSELab/AdaDec data/learned_thresholds.json @ d3c3be1)
AUTHORS_THRESHOLDS = {
    "deepseek-1.3b": 0.985025,
    "deepseek-6.7b": 1.133754,
    "stable-3b": 1.100469,
    "qwen3-0.6b": 1.321288,
    "qwen3-1.7b": 0.615292,
    "qwen3-4b": 0.713369,
    "qwen3-8b": 0.705955,
}


@dataclass(frozen=True)
class ForcedSteps:
    """Per reference token: the entropy before it and the reference token's rank (1 = top-1)."""

    entropy: np.ndarray
    rank: np.ndarray
    problems: int

    @property
    def top1(self) -> np.ndarray:
        return self.rank == 1

    def gated(self, threshold: float, beams: int) -> dict:
        """On the steps the gate opens: how often greedy is right, and how often the reference is
        among the `beams` candidates a lookahead can choose from at all."""
        gate = self.entropy >= threshold
        if not gate.any():
            return {"fire_rate": 0.0}
        return {
            "fire_rate": round(float(gate.mean()), 4),
            "top1_rate_when_gated": round(float(self.top1[gate].mean()), 4),
            f"in_top{beams}_rate_when_gated": round(float((self.rank[gate] <= beams).mean()), 4),
            "top1_rate_otherwise": round(float(self.top1[~gate].mean()), 4) if (~gate).any() else None,
        }


def teacher_forced_steps(backend, pairs: Iterable[tuple[str, str]]) -> ForcedSteps:
    """(prompt, reference) pairs through one sequence; the prompt and the reference are tokenised
    apart and concatenated, as the authors do."""
    seq = backend.sequence()
    entropies: list[float] = []
    ranks: list[int] = []
    problems = 0
    try:
        for prompt, reference in pairs:
            p, r = backend.tokenize(prompt), backend.tokenize(reference)
            if not r or len(p) + len(r) > backend.n_ctx:
                continue
            seq.reset()
            rows = seq.extend_rows(p + r, first=len(p) - 1)[: len(r)]  # row i predicts r[i]
            for row, token in zip(rows, r, strict=True):
                entropies.append(StdView(row).uncertainty("entropy"))
                ranks.append(int(np.count_nonzero(row > row[token])) + 1)
            problems += 1
    finally:
        backend.release(seq)
    return ForcedSteps(np.array(entropies), np.array(ranks), problems)


def learn_threshold(entropy: np.ndarray, top1: np.ndarray) -> dict:
    """The authors' logistic-regression threshold (``_train_logistic_and_find_threshold``)."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise UscdError(
            "learning the AdaDec threshold needs scikit-learn: pip install 'uscd[calibrate]'"
        ) from None
    keep = np.isfinite(entropy)
    x, y = entropy[keep].reshape(-1, 1), top1[keep].astype(int)
    if len(np.unique(y)) < 2:
        raise UscdError("teacher forcing gave only one class (every token top-1, or none): no threshold")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED)
    xb, yb = _balanced(x_train, y_train)
    model = LogisticRegression(max_iter=1000).fit(xb, yb)
    proba = model.predict_proba(x_test)[:, 1]
    cut, accuracy = _best_cut(proba, y_test)
    coef, intercept = float(model.coef_[0][0]), float(model.intercept_[0])
    p = min(max(cut, 1e-12), 1 - 1e-12)
    threshold = (math.log(p / (1 - p)) - intercept) / coef if coef else math.nan
    return {
        "threshold": round(threshold, 6),
        "probability_cut": round(cut, 2),
        "accuracy": round(accuracy, 4),
        "coef": coef,
        "intercept": intercept,
        "steps": int(y.size),
        "top1_rate": round(float(y.mean()), 4),
    }


def _balanced(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As many of each class as the rarer has, drawn as pandas' ``sample(n, random_state=42)``."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n = min(pos.size, neg.size)
    pos = pos[np.random.RandomState(SPLIT_SEED).choice(pos.size, size=n, replace=False)]
    neg = neg[np.random.RandomState(SPLIT_SEED).choice(neg.size, size=n, replace=False)]
    rows = np.concatenate([pos, neg])
    return x[rows], y[rows]


def _best_cut(proba: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    best, best_accuracy = 0.0, -1.0
    for cut in np.arange(0.01, 1.00, 0.01):
        accuracy = float(np.mean((proba >= cut).astype(int) == y))
        if accuracy > best_accuracy:
            best, best_accuracy = float(cut), accuracy
    return best, best_accuracy


def calibrate_adadec(settings, splits: tuple[str, ...]) -> dict:
    """Teacher-force the reference solutions of held-out splits; write OUT/calibration.json.

    `settings`: a uscd.run.settings.EvalSettings (its run: task, data, limit, out; its model)."""
    from uscd.calibrate import check_held_out
    from uscd.engine import open_decoder
    from uscd.models import describe
    from uscd.runs import write_json_atomic
    from uscd.tasks import get_task

    run, model_settings = settings.run, settings.model
    problems = []
    for split in splits:
        options = {**run.task_options, "split": check_held_out(run.task_name, split)}
        problems += get_task(run.task_name, **options).problems(run.limit)
    pairs = [(p.prompt, p.reference) for p in problems if p.reference]
    if not pairs:
        raise UscdError(f"no reference solutions in the {', '.join(splits)} split(s) of {run.task_name}")
    decoder = open_decoder(
        model_settings.name,
        backend=model_settings.backend,
        n_ctx=model_settings.n_ctx,
        n_threads=model_settings.threads,
        dtype=model_settings.dtype,
    )
    try:
        steps = teacher_forced_steps(decoder.backend, pairs)
        model = describe(decoder.backend.path)
    finally:
        decoder.backend.close()
    learned = learn_threshold(steps.entropy, steps.top1)
    record = {
        "rule": "adadec",
        "knobs": {"threshold": learned["threshold"]},
        "criterion": "logistic regression of top-1 on entropy, teacher-forced references (adadec's prepare)",
        "selected": learned,
        "fire_rate_teacher_forced": round(float(np.mean(steps.entropy >= learned["threshold"])), 4),
        "teacher_forced_when_gated": steps.gated(learned["threshold"], 3),
        "authors_thresholds": AUTHORS_THRESHOLDS,
        "task": {"name": run.task_name, "splits": list(splits), "problems": steps.problems},
        "model": {k: v for k, v in model.items() if k != "path"},
    }
    run.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run.out / "calibration.json", record)
    return record
