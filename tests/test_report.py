"""`uscd report`: numbers by hand, pairing rules, flipped problems, plots, byte-for-byte output, CLI."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from uscd.cli import main
from uscd.errors import UscdError
from uscd.metrics import clopper_pearson, mcnemar_difference_ci, mcnemar_exact, paired_bootstrap
from uscd.report import build_report, render_stdout, write_report
from uscd.runs import RESULTS, SAMPLES, TRACES, RunFolder
from uscd.summary import summarize

pytest.importorskip("matplotlib")

EVTEST = Path("/tmp/evtest")
SHA = "a" * 64


def make_run(
    root: Path,
    label: str,
    outcomes: dict[str, list[bool]],
    *,
    rule: str | None = None,
    knobs: dict | None = None,
    task: str = "humaneval",
    dataset_sha: str = SHA,
    model: str = "tiny",
    evaluate: bool = True,
    contrast: str = "0110",
    completions: dict[str, str] | None = None,
    plus: dict[str, list[bool]] | None = None,
    prompt_style: str | None = None,
) -> Path:
    """A run folder as `uscd eval` writes it: outcomes maps task_id -> pass/fail per sample."""
    n = len(next(iter(outcomes.values())))
    config = {
        "task": {"name": task, "dataset_sha256": dataset_sha, "prompt_version": "1"},
        "method": {"label": label, "rule": rule or label, "knobs": knobs or {}, "lame_source": "derived"},
        "model": {"name": model, "size": 1, "sha256": "b" * 64},
        "sampling": {
            "n_samples": n,
            "temperature": 0.8 if n > 1 else 0.0,
            "top_p": 1.0,
            "top_k": 0,
            "seed": 0,
        },
    }
    if prompt_style is not None:
        config["prompt"] = {"style": prompt_style}
    folder = RunFolder(root / label)
    config = folder.open(config)
    gated = rule in ("uscd", "cd") or label in ("uscd", "cd")
    for tid, passes in outcomes.items():
        for i, ok in enumerate(passes):
            record = sample(tid, i, contrast if gated else "0000")
            record["completion"] = (completions or {}).get(tid, record["completion"])
            folder.append(SAMPLES, record)
            folder.append(TRACES, trace(tid, i, gated, contrast))
            if evaluate:
                row = {"task_id": tid, "sample_idx": i, "status": "pass" if ok else "fail", "reason": ""}
                if plus is not None:  # HumanEval+/MBPP+: the status is the base tests' verdict
                    row |= {"base_passed": ok, "plus_passed": plus[tid][i]}
                folder.append(RESULTS, row)
    folder.close()
    folder.write_summary(summarize(config, folder.samples(), folder.results()))
    return folder.path


def sample(tid: str, i: int, contrast: str) -> dict:
    stats = {
        "steps": 4,
        "uncertain_steps": 2,
        "contrast_steps": contrast.count("1"),
        "new_tokens": 4,
        "decode_s": 0.5,
    }
    return {"task_id": tid, "sample_idx": i, "completion": "ab\ncd", "finish_reason": "stop", "stats": stats}


def trace(tid: str, i: int, gated: bool, contrast: str) -> dict:
    return {
        "task_id": tid,
        "sample_idx": i,
        "tokens": [1, 2, 7, 4],
        "text": ["ab", "\n", "cd", "$x"],
        "greedy": [1, 2, 3, 4] if gated else [1, 2, 7, 4],
        "greedy_text": ["", "", " return", ""] if gated else ["", "", "", ""],
        "uncertainty": [0.99, 0.5, 0.6, 0.98] if gated else [None] * 4,
        "uncertain": "0110",
        "contrast": contrast if gated else "0000",
        "fallback": "0000",
        "head_size": [None, 2, 3, None],
    }


def ids(flags: list[bool], prefix: str = "HumanEval") -> dict[str, list[bool]]:
    return {f"{prefix}/{i}": [ok] for i, ok in enumerate(flags)}


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    """Baseline 3/5, candidate 4/5: two problems fixed, one broken."""
    make_run(tmp_path, "greedy", ids([True, True, True, False, False]))
    make_run(
        tmp_path,
        "uscd",
        ids([True, True, False, True, True]),
        knobs={"threshold": 0.9, "measure": "std-norm"},
    )
    return tmp_path


# ---------------------------------------------------------------------------------------------
# statistics by hand


def test_mcnemar_by_hand(pair):
    report = build_report([pair])
    (group,) = report.data["groups"]
    runs = {r["name"]: r for r in group["runs"]}
    assert [r["name"] for r in group["runs"]] == ["greedy", "uscd"]  # the baseline comes first
    assert runs["greedy"]["pass@1"] == 0.6 and runs["uscd"]["pass@1"] == 0.8
    assert runs["uscd"]["statuses"] == {"pass": 4, "fail": 1, "timeout": 0, "error": 0}
    assert runs["uscd"]["contrast_rate"] == 0.5 and runs["uscd"]["pass@10"] is None
    (comp,) = group["comparisons"]
    assert comp["test"] == "mcnemar-exact"
    assert (comp["fail_to_pass_count"], comp["pass_to_fail_count"]) == (2, 1)
    assert comp["p_value"] == 1.0  # 2 * P(X <= 1 | n=3, p=1/2) = 2 * 4/8
    assert comp["difference"] == 0.2
    assert comp["fail_to_pass"] == ["HumanEval/3", "HumanEval/4"]
    assert comp["pass_to_fail"] == ["HumanEval/2"]
    assert comp["problems_paired"] == 5
    assert comp["verdict"].startswith("no significant difference from greedy (p = 1.000)")
    lo, hi = comp["difference_ci95"]
    assert lo < 0 < hi


def test_changed_completions_count_where_the_method_acted(tmp_path):
    make_run(tmp_path, "greedy", ids([True, True, False, False]))
    # HumanEval/1 changed without changing the outcome; HumanEval/2 changed and flipped
    changed = {"HumanEval/1": "other code", "HumanEval/2": "fixed code"}
    make_run(tmp_path, "uscd", ids([True, True, True, False]), completions=changed)
    (comp,) = build_report([tmp_path]).data["groups"][0]["comparisons"]
    assert comp["changed_completions"] == 2 and comp["fail_to_pass"] == ["HumanEval/2"]
    assert "| 2 | 1 | 0 |" in render_stdout(build_report([tmp_path]), "md")


def test_significant_results_say_so_both_ways(tmp_path):
    make_run(tmp_path / "a", "greedy", ids([False] * 10))
    make_run(tmp_path / "a", "cd", ids([True] * 10))
    make_run(tmp_path / "b", "greedy", ids([True] * 10))
    make_run(tmp_path / "b", "cd", ids([False] * 10))
    better = build_report([tmp_path / "a"]).data["groups"][0]["comparisons"][0]
    assert better["p_value"] == round(2 / 1024, 6)
    assert better["verdict"] == "significantly better than greedy (p = 0.002)"
    worse = build_report([tmp_path / "b"]).data["groups"][0]["comparisons"][0]
    assert worse["verdict"] == "significantly worse than greedy (p = 0.002)"
    assert worse["difference_ci95"][1] < 0


def test_a_worse_but_insignificant_method_is_called_worse(tmp_path):
    make_run(tmp_path, "greedy", ids([True, True, False]))
    make_run(tmp_path, "cd", ids([True, False, False]))
    comp = build_report([tmp_path]).data["groups"][0]["comparisons"][0]
    assert comp["verdict"] == "no significant difference from greedy (p = 1.000); pass@1 is 33.3 points lower"
    md = render_stdout(build_report([tmp_path]), "md")
    assert "pass@1 is 33.3 points lower" in md and "pass → fail (1): HumanEval/1" in md


@pytest.mark.parametrize("b", range(0, 13))
def test_mcnemar_ci_agrees_with_the_exact_test(b):
    for c in range(0, 13):
        ci = mcnemar_difference_ci(b, c, 40)
        if b + c == 0:
            assert ci is None
            continue
        p = mcnemar_exact([False] * b + [True] * c, [True] * b + [False] * c).p_value
        assert (ci[0] > 0 or ci[1] < 0) == (p < 0.05), (b, c, p, ci)
        assert ci[0] <= (b - c) / 40 <= ci[1]


def test_clopper_pearson_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 5), (1, 5), (3, 7), (7, 7), (12, 40)]:
        lo, hi = clopper_pearson(k, n)
        want_lo = 0.0 if k == 0 else stats.beta.ppf(0.025, k, n - k + 1)
        want_hi = 1.0 if k == n else stats.beta.ppf(0.975, k + 1, n - k)
        assert lo == pytest.approx(want_lo, abs=1e-9) and hi == pytest.approx(want_hi, abs=1e-9)


def test_several_samples_use_the_paired_bootstrap_and_pass_at_10(tmp_path):
    base = {"T/0": [True] * 2 + [False] * 8, "T/1": [False] * 10, "T/2": [True] * 10}
    cand = {"T/0": [True] * 7 + [False] * 3, "T/1": [False] * 10, "T/2": [True] * 9 + [False]}
    make_run(tmp_path, "greedy", base, rule="sample")
    make_run(tmp_path, "uscd", cand)
    group = build_report([tmp_path]).data["groups"][0]
    runs = {r["name"]: r for r in group["runs"]}
    assert runs["uscd"]["samples_per_problem"] == [10, 10]
    assert runs["greedy"]["pass@10"] == pytest.approx(2 / 3, abs=1e-6)
    (comp,) = group["comparisons"]
    assert comp["test"] == "paired-bootstrap"
    want = paired_bootstrap([(10, 2), (10, 0), (10, 10)], [(10, 7), (10, 0), (10, 9)], 1, seed=0)
    assert comp["difference"] == pytest.approx((0.5 - 0.1) / 3, abs=1e-6)
    assert comp["difference_ci95"] == [round(want.lo, 6), round(want.hi, 6)]
    assert comp["p_value"] == round(want.p_value, 6)
    assert comp["fail_to_pass"] == ["T/0"] and comp["pass_to_fail"] == ["T/2"]
    assert "pass rate up (1): T/0" in render_stdout(build_report([tmp_path]), "md")
    # pass@10 is per problem "any of the 10 passed" here: 1 vs 1, 0 vs 0, 1 vs 1
    want10 = paired_bootstrap([(10, 2), (10, 0), (10, 10)], [(10, 7), (10, 0), (10, 9)], 10, seed=0)
    assert comp["pass@10"]["difference"] == 0.0 == round(want10.mean_diff, 6)
    assert comp["pass@10"]["p_value"] == round(want10.p_value, 6)
    assert "pass@10 difference: +0.0 pts" in render_stdout(build_report([tmp_path]), "md")


def test_pass_at_10_is_compared_only_with_ten_samples_on_both_sides(tmp_path):
    make_run(tmp_path, "greedy", {"T/0": [True] * 9 + [False], "T/1": [False] * 10}, rule="sample")
    make_run(tmp_path, "uscd", {"T/0": [True] * 9 + [False], "T/1": [True] + [False] * 9})
    (comp,) = build_report([tmp_path]).data["groups"][0]["comparisons"]
    assert comp["difference"] == pytest.approx(0.05)  # pass@1: T/1 0 -> 0.1
    assert comp["pass@10"]["difference"] == pytest.approx(0.5)  # pass@10: T/1 0 -> 1
    make_run(tmp_path / "few", "greedy", {"T/0": [True] * 5}, rule="sample")
    make_run(tmp_path / "few", "uscd", {"T/0": [False] * 5})
    (comp,) = build_report([tmp_path / "few"]).data["groups"][0]["comparisons"]
    assert "pass@10" not in comp


# ---------------------------------------------------------------------------------------------
# pairing rules


def test_runs_of_different_tasks_are_grouped_not_paired(tmp_path):
    make_run(tmp_path / "he", "greedy", ids([True, False]))
    make_run(tmp_path / "he", "uscd", ids([True, True]))
    make_run(tmp_path / "mbpp", "uscd", ids([True, True], "Mbpp"), task="mbpp")
    data = build_report([tmp_path / "he", tmp_path / "mbpp"]).data
    assert [(g["task"], len(g["runs"])) for g in data["groups"]] == [("humaneval", 2), ("mbpp", 1)]
    mbpp = data["groups"][1]["comparisons"][0]
    assert not mbpp["paired"] and mbpp["reason"] == "no baseline run in this task/model group"
    assert any("separate groups and never paired" in n for n in data["notes"])


@pytest.mark.parametrize(
    ("kwargs", "outcomes", "needle"),
    [
        ({"dataset_sha": "c" * 64}, ids([True, True]), "different datasets"),
        ({}, {"HumanEval/0": [True, False], "HumanEval/1": [True, True]}, "different samples per problem"),
    ],
)
def test_incompatible_runs_are_not_paired(tmp_path, kwargs, outcomes, needle):
    make_run(tmp_path, "greedy", ids([True, False]))
    make_run(tmp_path, "uscd", outcomes, **kwargs)
    report = build_report([tmp_path])
    (comp,) = report.data["groups"][0]["comparisons"]
    assert not comp["paired"] and needle in comp["reason"]
    assert f"not compared: {comp['reason']}" in render_stdout(report, "md")


def test_only_the_problems_both_executed_are_paired(tmp_path):
    make_run(tmp_path, "greedy", ids([True, False, True, False, True]))
    make_run(tmp_path, "uscd", ids([True, True, False]))
    data = build_report([tmp_path]).data
    comp = data["groups"][0]["comparisons"][0]
    assert (comp["problems_paired"], comp["problems_baseline"], comp["problems_candidate"]) == (3, 5, 3)
    assert comp["baseline_pass@1"] == pytest.approx(2 / 3, abs=1e-6)
    assert any("paired on the 3 problems both executed" in n for n in data["notes"])


def test_two_eval_folders_pair_each_method_with_its_own_baseline(tmp_path):
    make_run(tmp_path / "a", "greedy", ids([True, False]))
    make_run(tmp_path / "a", "uscd", ids([True, True]))
    make_run(tmp_path / "b", "greedy", ids([False, False]))
    make_run(tmp_path / "b", "uscd", ids([False, True]))
    group = build_report([tmp_path / "a", tmp_path / "b"]).data["groups"][0]
    pairs = {(c["method"], c["baseline"]) for c in group["comparisons"]}
    assert pairs == {("uscd (a)", "greedy (a)"), ("uscd (b)", "greedy (b)")}


def test_an_ambiguous_baseline_is_not_guessed(tmp_path):
    make_run(tmp_path / "a", "greedy", ids([True, False]))
    make_run(tmp_path / "b", "greedy", ids([False, False]))
    make_run(tmp_path / "c", "uscd", ids([True, True]))
    paths = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    (comp,) = build_report(paths).data["groups"][0]["comparisons"]
    assert not comp["paired"] and comp["reason"].startswith("2 baseline runs fit")


def test_the_same_folder_twice_counts_once(pair):
    data = build_report([pair, pair / "uscd"]).data
    assert [r["name"] for r in data["groups"][0]["runs"]] == ["greedy", "uscd"]


def test_bad_input_is_a_one_line_error(tmp_path):
    with pytest.raises(UscdError, match="does not exist"):
        build_report([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UscdError, match="holds no run folder"):
        build_report([tmp_path / "empty"])
    make_run(tmp_path / "gen", "uscd", ids([True]), evaluate=False)
    with pytest.raises(UscdError, match=r"not evaluated: run `uscd evaluate .*gen/uscd`"):
        build_report([tmp_path / "gen"])


# ---------------------------------------------------------------------------------------------
# outputs


def grid(tmp_path: Path) -> Path:
    root = tmp_path / "grid"
    for t, contrast, flags in [
        (0.5, "0100", [True, False]),
        (0.8, "0110", [True, True]),
        (0.95, "1111", [False, True]),
    ]:
        make_run(
            root, f"t{t}", ids(flags), rule="uscd", knobs={"threshold": t, "rho": 0.7}, contrast=contrast
        )
    return root


def test_calibration_grid_points_and_labels(tmp_path):
    data = build_report(
        [make_run(tmp_path, "greedy", ids([True, False]))], calibration_grid=grid(tmp_path)
    ).data
    (g,) = data["calibration_grid"]
    assert g["varying"] == ["threshold"]
    assert [(p["label"], p["contrast_rate"], p["pass@1"]) for p in g["points"]] == [
        ("threshold=0.5", 0.25, 0.5),
        ("threshold=0.8", 0.5, 1.0),
        ("threshold=0.95", 1.0, 0.5),
    ]
    make_run(tmp_path / "grid", "greedy", ids([True, True]), rule="greedy")
    (g,) = build_report([tmp_path / "greedy"], calibration_grid=tmp_path / "grid").data["calibration_grid"]
    assert g["varying"] == ["rho", "rule", "threshold"]
    assert g["points"][0]["label"] == "rule=greedy"  # not "rho=None, ..., threshold=None"


def test_out_folder_is_byte_for_byte_reproducible(pair, tmp_path):
    files, grid_root = [], grid(tmp_path)
    for out in (tmp_path / "r1", tmp_path / "r2", tmp_path / "r1"):
        report = build_report([pair], calibration_grid=grid_root)
        files.append({p.name: p.read_bytes() for p in write_report(report, out)})
    assert files[0] == files[1] == files[2]
    names = set(files[0])
    assert {"report.md", "report.json", "index.html"} <= names
    pngs = sorted(n for n in names if n.endswith(".png"))
    assert pngs == [
        "calibration_humaneval_tiny.png",
        "pass1_humaneval_tiny.png",
        "traces_humaneval_tiny_uscd.png",
    ]
    for name in pngs:
        assert files[0][name].startswith(b"\x89PNG") and b"matplotlib" not in files[0][name]
    assert not list((tmp_path / "r1").glob(".*.tmp"))


def test_report_md_links_plots_and_lists_runs(pair, tmp_path):
    write_report(build_report([pair]), tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "![pass@1 by method, humaneval](pass1_humaneval_tiny.png)" in md
    assert "(traces_humaneval_tiny_uscd.png)" in md
    assert "- fail → pass (2): HumanEval/3, HumanEval/4" in md
    config_hash = json.loads((pair / "uscd" / "config.json").read_text())["config_hash"]
    assert f"| uscd | `{config_hash}` | `{pair / 'uscd'}` |" in md
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["plots"] == ["pass1_humaneval_tiny.png", "traces_humaneval_tiny_uscd.png"]


def test_html_is_self_contained(pair, tmp_path):
    written = write_report(build_report([pair]), tmp_path / "out")
    page = (tmp_path / "out" / "index.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    pngs = sorted(p for p in written if p.suffix == ".png")
    assert sorted(base64.b64decode(b) for b in embedded) == sorted(p.read_bytes() for p in pngs)
    assert not re.search(r'src="(?!data:)', page) and "<table>" in page
    assert "<code>" in page and "HumanEval/3, HumanEval/4" in page


def test_trace_figure_picks_the_flipped_samples(pair):
    report = build_report([pair])
    (spec,) = [p for p in report.plots if p.kind == "traces"]
    titles = [c.title for c in spec.data["cases"]]
    assert titles == [
        "HumanEval/3 (fail → pass, sample 0)",
        "HumanEval/4 (fail → pass, sample 0)",
        "HumanEval/2 (pass → fail, sample 0)",
    ]
    case = spec.data["cases"][0]
    assert case.changed == [(2, "cd", " return")] and case.contrast == [False, True, True, False]
    assert case.end_step == 3  # "$x" lies past the completion "ab\ncd"
    assert spec.data["threshold"] == 0.9 and spec.data["measure"] == "std-norm"


def test_readable_token_text():
    from uscd.report.plots import change_label, readable

    assert readable("\n") == "'\\n'" and readable(" return") == "' return'"
    assert readable("中") is None and readable("") is None
    assert change_label("x", "\x00") == ""


def test_trace_figure_survives_odd_token_text():
    from uscd.report import PlotSpec, TraceCase
    from uscd.report.plots import render

    case = TraceCase("T/0 $x$", [0.5, None, 0.7], [True, False, True], [(0, "$a$", "中"), (1, "$b", "_")], 2)
    png = render(
        PlotSpec("t.png", "traces", "odd $tokens$", {"cases": [case], "measure": None, "threshold": None})
    )
    assert png.startswith(b"\x89PNG")


def test_format_json_only_writes_json(pair, tmp_path):
    written = write_report(build_report([pair]), tmp_path / "out", ("json",))
    assert [p.name for p in written] == ["report.json"]


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_prints_markdown_without_out(pair, capsys):
    assert main(["report", str(pair)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# uscd report\n") and "| uscd | uscd | 5 | 1 | 80.0% |" in out


def test_cli_writes_the_out_folder(pair, tmp_path, capsys):
    assert (
        main(["report", str(pair), "--out", str(tmp_path / "out"), "--calibration-grid", str(grid(tmp_path))])
        == 0
    )
    assert f"wrote {tmp_path / 'out' / 'index.html'}" in capsys.readouterr().out
    assert (tmp_path / "out" / "calibration_humaneval_tiny.png").exists()


def test_cli_json_to_stdout(pair, capsys):
    assert main(["report", str(pair), "--format", "json", "--baseline", "uscd"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["baseline"] == "uscd" and data["groups"][0]["comparisons"][0]["method"] == "greedy"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nope"], "does not exist"),
        (["."], "holds no run folder"),
        (["gen"], "not evaluated: run `uscd evaluate"),
        (["pair", "--baseline", "beam"], "no run is labelled 'beam' (labels: greedy)"),
        (["pair", "--calibration-grid", "nope"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys, args, needle):
    make_run(tmp_path / "gen", "uscd", ids([True]), evaluate=False)
    make_run(tmp_path / "pair", "greedy", ids([True]))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub" if args == ["."] else tmp_path)
    assert main(["report", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and err.startswith("uscd report: error: ")


# ---------------------------------------------------------------------------------------------
# real runs


@pytest.mark.skipif(not (EVTEST / "greedy" / "results.jsonl").exists(), reason="no /tmp/evtest runs")
def test_real_eval_folder(tmp_path):
    runs = tmp_path / "evtest"
    shutil.copytree(EVTEST, runs)
    written = write_report(build_report([runs]), tmp_path / "out")
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    (group,) = data["groups"]
    assert group["runs"][0]["label"] == "greedy" and len(group["comparisons"]) == len(group["runs"]) - 1
    assert all(c["paired"] and c["test"] == "mcnemar-exact" for c in group["comparisons"])
    assert any(p.suffix == ".png" for p in written)


def test_two_processes_with_different_hash_seeds_write_the_same_bytes(pair, tmp_path):
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [sys.executable, "-m", "uscd", "report", str(pair), "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1] and len(outs[0]) == 5


def test_the_rule_column_says_when_a_run_sampled(tmp_path):
    make_run(tmp_path, "greedy", {"T/0": [True]})
    make_run(tmp_path / "t", "sample", {"T/0": [True, False]}, rule="greedy")
    make_run(tmp_path / "t", "uscd", {"T/0": [True, True]})
    text = render_stdout(build_report([tmp_path, tmp_path / "t"]), "md")
    assert "| greedy | greedy |" in text
    assert "| sample | sample, T 0.8 |" in text and "| uscd | uscd, sampled at T 0.8 |" in text


# ---------------------------------------------------------------------------------------------
# Holm's correction across the report, and one verdict per method


def test_holm_across_groups_and_one_verdict_per_method(tmp_path):
    make_run(tmp_path / "he", "greedy", ids([False] * 10))
    make_run(tmp_path / "he", "cd", ids([True] * 10))  # p = 2/1024
    make_run(tmp_path / "he", "uscd", ids([False] * 10))  # p = 1
    make_run(tmp_path / "mbpp", "greedy", ids([True] * 10, "Mbpp"), task="mbpp")
    make_run(tmp_path / "mbpp", "cd", ids([False] * 10, "Mbpp"), task="mbpp")
    make_run(tmp_path / "mbpp", "uscd", ids([True] * 10, "Mbpp"), task="mbpp")
    data = build_report([tmp_path / "he", tmp_path / "mbpp"]).data
    assert data["holm"] == {
        "alpha": 0.05,
        "tests": 4,
        "base_plus_tests": 0,
        "heldout_tests": 0,
        "repeated_tests": 0,
    }
    comps = [c for g in data["groups"] for c in g["comparisons"]]
    # by hand: 0.001953 * 4 = 0.007812 twice (the running maximum), then 1.0 * 2 and 1.0 * 1 capped at 1
    assert [(c["method"], c["p_value"], c["p_holm"]) for c in comps] == [
        ("cd", 0.001953, 0.007812),
        ("uscd", 1.0, 1.0),
        ("cd", 0.001953, 0.007812),
        ("uscd", 1.0, 1.0),
    ]
    verdicts = {v["label"]: v for v in data["method_verdicts"]}
    assert verdicts["cd"]["verdict"] == (
        "significantly better than greedy after Holm correction on humaneval · tiny (+100.0 pts, "
        "Holm p = 0.008); significantly worse on mbpp · tiny (-100.0 pts, Holm p = 0.008)"
    )
    assert verdicts["cd"]["better"] == ["humaneval · tiny"] and verdicts["cd"]["worse"] == ["mbpp · tiny"]
    never = "never significantly better or worse than greedy after Holm correction"
    assert verdicts["uscd"]["verdict"] == never
    md = render_stdout(build_report([tmp_path / "he", tmp_path / "mbpp"]), "md")
    assert "## Verdicts after Holm correction (4 paired tests)" in md
    assert "- uscd: never significantly better or worse than greedy after Holm correction" in md
    assert "| p | p (Holm) |" in md and "| 0.002 | 0.008 |" in md


def test_a_result_significant_alone_need_not_survive_the_correction(tmp_path):
    make_run(tmp_path, "greedy", ids([False] * 7 + [True] * 3))
    make_run(tmp_path, "cd", ids([True] * 10))  # 7 fixed, none broken: p = 2/128
    for label in ("cfg", "uscd", "uscd-paper"):
        make_run(tmp_path, label, ids([False] * 7 + [True] * 3))
    data = build_report([tmp_path]).data
    cd = data["groups"][0]["comparisons"][0]
    assert cd["verdict"] == "significantly better than greedy (p = 0.016)"  # unchanged: uncorrected
    assert cd["p_holm"] == 0.0625  # 0.015625 * 4
    assert data["method_verdicts"][0] == {
        "label": "cd",
        "tests": 1,
        "better": [],
        "worse": [],
        "verdict": "never significantly better or worse than greedy after Holm correction",
    }


def test_worse_only_says_never_better(tmp_path):
    make_run(tmp_path, "greedy", ids([True] * 10))
    make_run(tmp_path, "cd", ids([False] * 10))
    (verdict,) = build_report([tmp_path]).data["method_verdicts"]
    assert verdict["verdict"] == (
        "never significantly better than greedy after Holm correction; "
        "significantly worse on humaneval · tiny (-100.0 pts, Holm p = 0.002)"
    )


def test_no_paired_test_no_verdicts(tmp_path):
    make_run(tmp_path, "uscd", ids([True, False]))
    data = build_report([tmp_path]).data
    assert data["holm"]["tests"] == 0 and data["method_verdicts"] == []
    assert "Verdicts after Holm" not in render_stdout(build_report([tmp_path]), "md")


# ---------------------------------------------------------------------------------------------
# HumanEval+ / MBPP+ runs (results rows with base_passed and plus_passed)


def test_plus_runs_report_base_and_plus_side_by_side(tmp_path):
    base = ids([True, True, True, False, False])
    make_run(tmp_path, "greedy", base, plus={t: [t != "HumanEval/0" and ok] for t, (ok,) in base.items()})
    cand = ids([True, True, True, True, True])
    make_run(tmp_path, "uscd", cand, plus={t: [t not in ("HumanEval/0", "HumanEval/1")] for t in cand})
    report = build_report([tmp_path])
    group = report.data["groups"][0]
    runs = {r["name"]: r for r in group["runs"]}
    assert runs["greedy"]["base"]["pass@1"] == 0.6 and runs["greedy"]["plus"]["pass@1"] == 0.4
    assert runs["uscd"]["plus"] | {"pass@1_ci95": None} == {
        "problems": 5,
        "passed": 3,
        "pass@1": 0.6,
        "pass@1_ci95": None,
    }
    (comp,) = group["comparisons"]
    plus = comp["plus"]
    # plus: greedy passes 1, 2; uscd passes 2, 3, 4: fixed 3, 4 and broken 1
    assert (plus["fail_to_pass"], plus["pass_to_fail"]) == (["HumanEval/3", "HumanEval/4"], ["HumanEval/1"])
    assert plus["p_value"] == 1.0 and not plus["repeats_main_test"]
    assert comp["base"]["repeats_main_test"]  # base tests = the status: one test, counted once
    assert report.data["holm"] == {
        "alpha": 0.05,
        "tests": 2,
        "base_plus_tests": 1,
        "heldout_tests": 0,
        "repeated_tests": 1,
    }
    assert comp["base"]["p_holm"] == comp["p_holm"]
    md = render_stdout(report, "md")
    assert "| base pass@1 (95% CI) | plus pass@1 (95% CI) |" in md
    assert "| 60.0% [23.1%, 88.2%] | 40.0% [11.8%, 76.9%] |" in md
    assert "#### Versus greedy, plus tests" in md and "#### Versus greedy, base tests" in md


def test_runs_without_plus_tests_get_no_plus_columns(pair):
    report = build_report([pair])
    assert "plus" not in report.data["groups"][0]["runs"][0]
    assert "plus pass@1" not in render_stdout(report, "md")


def test_a_plus_run_beside_a_plain_run_is_compared_on_what_both_have(tmp_path):
    make_run(tmp_path, "greedy", ids([True, False]))
    make_run(tmp_path, "uscd", ids([True, True]), plus={"HumanEval/0": [True], "HumanEval/1": [False]})
    report = build_report([tmp_path])
    (comp,) = report.data["groups"][0]["comparisons"]
    assert "plus" not in comp and comp["paired"]
    md = render_stdout(report, "md")
    # the methods table: greedy has no base/plus cells (nor pass@10), uscd has both
    assert "| greedy | greedy | 2 | 1 | 50.0% | [9.5%, 90.5%] | – | – | – |" in md
    assert "| uscd | uscd | 2 | 1 | 100.0% | [34.2%, 100.0%] | 100.0% [34.2%, 100.0%] | 50.0% [" in md


# ---------------------------------------------------------------------------------------------
# environment flags (summary.json: e.g. most programs of a language failed to compile)


def flag(run: Path, flags: list) -> None:
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps(summary | {"environment_flags": flags}))


def test_environment_flags_are_shown_first(pair, tmp_path):
    message = "rs: 150 of 161 programs failed to compile (rustc: not found); install rustc"
    flag(pair / "uscd", [{"message": message, "language": "rs"}, {"language": "go", "failed": 3}])
    report = build_report([pair])
    assert report.data["warnings"] == [
        f"humaneval · tiny · uscd: {message}",
        "humaneval · tiny · uscd: failed: 3; language: go",
    ]
    assert report.data["groups"][0]["runs"][1]["environment_flags"][0] == message
    assert "environment_flags" not in report.data["groups"][0]["runs"][0]
    md = render_stdout(report, "md")
    assert md.startswith(f"# uscd report\n\n> **Warning:** humaneval · tiny · uscd: {message}\n")
    assert f"> **Warning:** uscd: {message}" in md  # again in the group's own section
    out = write_report(report, tmp_path / "out")
    page = (tmp_path / "out" / "index.html").read_text()
    assert f'<p class="warning"><strong>Warning:</strong> humaneval · tiny · uscd: {message}</p>' in page
    assert "report.json" in {p.name for p in out}


def test_no_flags_no_warnings(pair):
    report = build_report([pair])
    assert report.data["warnings"] == [] and "Warning" not in render_stdout(report, "md")


def test_a_corrupt_summary_is_a_one_line_error(pair):
    (pair / "uscd" / "summary.json").write_text("{not json")
    with pytest.raises(UscdError, match=r"summary.json is corrupt"):
        build_report([pair])
