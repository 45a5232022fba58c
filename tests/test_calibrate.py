"""Calibration: held-out splits only, grid construction, selection and trigger-rate thresholds."""

from __future__ import annotations

import pytest

from uscd.calibrate import Grid, check_held_out, selection, trigger_thresholds
from uscd.errors import UscdError
from uscd.runs import TRACES, RunFolder


def test_only_held_out_splits():
    assert check_held_out("mbpp", None) == "validation"
    assert check_held_out("mbpp", "train") == "train"
    for task, split in (("mbpp", "test"), ("humaneval", None), ("humanevalplus", "validation")):
        with pytest.raises(UscdError):
            check_held_out(task, split)


def test_grid_methods():
    grid = Grid(thresholds=(0.5, 0.9), rhos=(0.3, 1.0), alphas=(0.1,))
    specs = grid.methods()
    assert specs[0].rule == "greedy" and len(specs) == 5
    assert {s.knobs["threshold"] for s in specs[1:]} == {0.5, 0.9}
    assert len({s.label for s in specs}) == 5
    with pytest.raises(UscdError):
        Grid(rhos=())


def summary(p, contrast):
    return {
        "pass@1": p,
        "pass@1_ci95": [0, 1],
        "generation": {"contrast_rate": contrast, "uncertain_rate": contrast},
        "config_hash": "h",
    }


def test_selection_prefers_pass_rate_then_less_contrast():
    grid = Grid(thresholds=(0.5, 0.9), rhos=(0.3,), alphas=(0.1,))
    a, b = (s.label for s in grid.methods()[1:])
    chosen = selection({"greedy": summary(0.4, 0.0), a: summary(0.5, 0.10), b: summary(0.5, 0.30)}, grid)
    assert chosen["knobs"]["threshold"] == 0.5 and chosen["baseline"]["pass@1"] == 0.4
    chosen = selection({"greedy": summary(0.4, 0.0), a: summary(0.45, 0.10), b: summary(0.5, 0.30)}, grid)
    assert chosen["knobs"]["threshold"] == 0.9
    assert len(chosen["grid"]) == 2


def test_trigger_thresholds_are_quantiles_of_recorded_uncertainty(tmp_path):
    folder = RunFolder(tmp_path / "uscd-x")
    folder.open({"method": {"rule": "uscd", "label": "uscd-x"}})
    folder.append(TRACES, {"task_id": "t", "sample_idx": 0, "uncertainty": [i / 100 for i in range(100)]})
    folder.close()
    greedy = RunFolder(tmp_path / "greedy")
    greedy.open({"method": {"rule": "greedy", "label": "greedy"}})
    greedy.append(TRACES, {"task_id": "t", "sample_idx": 0, "uncertainty": [None] * 5})
    greedy.close()
    got = trigger_thresholds(tmp_path, "std-norm")
    assert got == {"0.10": 0.10, "0.25": 0.25, "steps": 100}
    got = trigger_thresholds(tmp_path, "entropy")  # uncertain when high: the upper quantiles
    assert got["0.10"] == 0.90 and got["0.25"] == 0.75
