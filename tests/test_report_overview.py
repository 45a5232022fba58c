"""`uscd report`: chat runs apart from completion runs, held-out columns, the overview, the MultiPL-E plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.test_report import ids, make_run

from uscd.errors import UscdError
from uscd.report import build_report, render_stdout
from uscd.report.data import HELDOUT_RESULTS
from uscd.runs import CONFIG

pytest.importorskip("matplotlib")


def score_held_out(run: Path, outcomes: dict[str, list[bool]]) -> None:
    """heldout_results.jsonl as `scripts/heldout_eval.py score` writes it."""
    rows = [
        {"task_id": t, "sample_idx": i, "status": "pass" if ok else "fail", "reason": ""}
        for t, passes in outcomes.items()
        for i, ok in enumerate(passes)
    ]
    (run / HELDOUT_RESULTS).write_text("".join(json.dumps(r) + "\n" for r in rows))


def rescored(run: Path, source: Path) -> None:
    """Turn `run` into what `uscd evaluate --samples source/samples.jsonl` writes: the model and the
    prompt are the source run's, recorded under `source_run` (or only in the source's config.json)."""
    config = json.loads((run / CONFIG).read_text())
    source_config = json.loads((source / CONFIG).read_text())
    config.pop("prompt", None)
    config["kind"] = "samples-file"
    config["source_run"] = {
        "model": config.pop("model"),
        "method": config["method"],
        "sampling": config.pop("sampling"),
    }
    config["samples_file"] = {"path": str(source / "samples.jsonl"), "sha256": "c" * 64}
    assert source_config["prompt"]["style"] == "chat"
    (run / CONFIG).write_text(json.dumps(config))


# ---------------------------------------------------------------------------------------------
# chat-mode runs are a group of their own


def test_chat_and_completion_runs_of_one_task_and_model_are_never_paired(tmp_path):
    make_run(tmp_path / "completion", "greedy", ids([True, False, False, False]))
    make_run(tmp_path / "completion", "uscd", ids([True, True, False, False]))
    make_run(tmp_path / "chat", "greedy", ids([True, True, True, False]), prompt_style="chat")
    make_run(tmp_path / "chat", "uscd", ids([True, True, True, True]), prompt_style="chat")
    make_run(tmp_path / "chat-only", "cd", ids([True] * 4), prompt_style="chat")
    data = build_report([tmp_path / "completion", tmp_path / "chat"]).data
    assert [(g["id"], g["task"], g["prompt_style"]) for g in data["groups"]] == [
        ("humaneval_tiny", "humaneval", "completion"),
        ("humaneval-chat_tiny", "humaneval", "chat"),
    ]
    completion, chat = data["groups"]
    assert [r["name"] for r in chat["runs"]] == ["greedy", "uscd"]  # no "(chat)" suffix: one greedy each
    assert [c["baseline_pass@1"] for c in (completion["comparisons"][0], chat["comparisons"][0])] == [
        0.25,
        0.75,
    ]
    md = render_stdout(build_report([tmp_path / "completion", tmp_path / "chat"]), "md")
    assert "\n## humaneval · tiny\n" in md and "\n## humaneval (chat) · tiny\n" in md
    # a chat run with only a completion-prompt greedy beside it has no baseline
    alone = build_report([tmp_path / "completion", tmp_path / "chat-only"]).data
    chat_group = next(g for g in alone["groups"] if g["prompt_style"] == "chat")
    assert chat_group["comparisons"] == [
        {
            "method": "cd",
            "baseline": None,
            "paired": False,
            "reason": "no baseline run in this task/model group",
        }
    ]


def test_a_rescored_run_takes_its_source_runs_model_and_prompt_style(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the samples file's path is recorded as given, here relative
    source = make_run(Path("gen"), "greedy", ids([True, False]), prompt_style="chat")
    make_run(Path("plus"), "greedy", ids([True, True]))
    rescored(Path("plus/greedy"), source)
    make_run(Path("plus-completion"), "greedy", ids([False, False]))
    (chat, completion) = sorted(
        build_report([Path("plus"), Path("plus-completion")]).data["groups"], key=lambda g: g["prompt_style"]
    )
    assert (chat["prompt_style"], chat["model"], chat["model_sha256"]) == ("chat", "tiny", "b" * 64)
    assert completion["prompt_style"] == "completion" and len(chat["runs"]) == len(completion["runs"]) == 1
    assert (chat["runs"][0]["n_samples"], chat["runs"][0]["temperature"]) == (1, 0.0)  # the source run's


# ---------------------------------------------------------------------------------------------
# held-out tests: a column next to the full one, and a paired test in the Holm family


def test_held_out_scores_get_a_column_and_a_corrected_paired_test(tmp_path):
    from uscd.run.heldout import RESULTS, paired

    assert HELDOUT_RESULTS == RESULTS
    greedy = make_run(tmp_path, "greedy", ids([True, False, False, False, False, False]))
    uscd = make_run(tmp_path, "uscd", ids([True, True, True, True, True, True]))
    score_held_out(greedy, ids([True, False, False, False, False]))  # one problem has no held-out test
    score_held_out(uscd, ids([False, True, True, True, True]))
    report = build_report([tmp_path])
    (group,) = report.data["groups"]
    runs = {r["name"]: r for r in group["runs"]}
    assert runs["greedy"]["heldout"] | {"pass@1_ci95": None} == {
        "problems": 5,
        "passed": 1,
        "pass@1": 0.2,
        "pass@1_ci95": None,
    }
    (comp,) = group["comparisons"]
    held = comp["heldout"]
    assert held["fail_to_pass"] == [f"HumanEval/{i}" for i in range(1, 5)]
    assert held["pass_to_fail"] == ["HumanEval/0"] and held["problems_paired"] == 5
    # by hand: main b=6-1=5, c=0: p = 2/32; held-out b=4, c=1: p = 2 * 6/32
    assert (comp["p_value"], held["p_value"]) == (0.0625, 0.375)
    assert held["p_value"] == round(paired(greedy, uscd)["p_value"], 6)  # what the held-out script says
    assert report.data["holm"] == {
        "alpha": 0.05,
        "tests": 2,
        "base_plus_tests": 0,
        "heldout_tests": 1,
        "repeated_tests": 0,
    }
    assert (comp["p_holm"], held["p_holm"]) == (0.125, 0.375)
    md = render_stdout(report, "md")
    assert "| held-out pass@1 (95% CI) |" in md and "#### Versus greedy, held-out tests" in md
    assert "(the 1 held-out test included)" in md


def test_a_corrupt_held_out_file_is_a_one_line_error(tmp_path):
    greedy = make_run(tmp_path, "greedy", ids([True]))
    (greedy / HELDOUT_RESULTS).write_text("{not json\n")
    with pytest.raises(UscdError, match=r"heldout_results.jsonl line 1 is corrupt"):
        build_report([tmp_path])


# ---------------------------------------------------------------------------------------------
# the overview table


@pytest.fixture
def two_tasks(tmp_path: Path) -> Path:
    """humaneval: greedy 0/10, cd 10/10 (p = 2/1024), uscd 0/10; mbpp: greedy and uscd 10/10."""
    make_run(tmp_path / "he", "greedy", ids([False] * 10))
    make_run(tmp_path / "he", "cd", ids([True] * 10))
    make_run(tmp_path / "he", "uscd", ids([False] * 10))
    make_run(tmp_path / "mbpp", "greedy", ids([True] * 10, "Mbpp"), task="mbpp")
    make_run(tmp_path / "mbpp", "uscd", ids([True] * 10, "Mbpp"), task="mbpp")
    return tmp_path


def test_overview_cells_hold_pass_at_1_and_the_corrected_paired_test(two_tasks):
    report = build_report([two_tasks / "he", two_tasks / "mbpp"])
    overview = report.data["overview"]
    assert [c["title"] for c in overview["columns"]] == ["humaneval · tiny", "mbpp · tiny"]
    assert [r["label"] for r in overview["rows"]] == ["greedy", "cd", "uscd"]  # the baseline first
    greedy, cd, uscd = (r["cells"] for r in overview["rows"])
    assert greedy == [
        [{"run": "greedy", "pass@1": 0.0, "baseline": True}],
        [{"run": "greedy", "pass@1": 1.0, "baseline": True}],
    ]
    # Holm over 3 tests by hand: 0.001953 * 3, then 1.0 twice
    assert cd == [[{"run": "cd", "pass@1": 1.0, "paired": True, "difference": 1.0, "p_holm": 0.005859}], []]
    comps = {(g["task"], c["method"]): c for g in report.data["groups"] for c in g["comparisons"]}
    assert uscd[1] == [
        {
            "run": "uscd",
            "pass@1": 1.0,
            "paired": True,
            "difference": 0.0,
            "p_holm": comps["mbpp", "uscd"]["p_holm"],
        }
    ]
    md = render_stdout(report, "md")
    assert "| method | humaneval · tiny | mbpp · tiny |" in md
    assert "| greedy | 0.0% | 100.0% |" in md
    assert "| cd | 100.0% (+100.0, p_H 0.006) |  |" in md  # empty: cd was not run on mbpp
    assert "| uscd | 0.0% (+0.0, p_H 1.000) | 100.0% (+0.0, p_H 1.000) |" in md
    # the overview leads, the verdicts right under it, then the groups
    assert md.index("## Overview") < md.index("## Verdicts after Holm") < md.index("## humaneval · tiny")


def test_overview_has_base_plus_and_held_out_columns_beside_the_full_one(tmp_path):
    base = ids([True, True, True, False, False])
    greedy = make_run(
        tmp_path, "greedy", base, plus={t: [t != "HumanEval/0" and ok] for t, (ok,) in base.items()}
    )
    cand = ids([True] * 5)
    uscd = make_run(tmp_path, "uscd", cand, plus={t: [t != "HumanEval/1"] for t in cand})
    make_run(tmp_path, "cd", ids([False] * 5), plus=ids([False] * 5))
    score_held_out(greedy, ids([True, False, False, False, False]))
    score_held_out(uscd, ids([True, True, True, True, True]))
    report = build_report([tmp_path])
    overview = report.data["overview"]
    assert [(c["outcome"], c["title"]) for c in overview["columns"]] == [
        ("pass@1", "humaneval · tiny"),
        ("base", "humaneval · tiny, base tests"),
        ("plus", "humaneval · tiny, plus tests"),
        ("heldout", "humaneval · tiny, held-out tests"),
    ]
    rows = {r["label"]: r["cells"] for r in overview["rows"]}
    comp_uscd = next(c for c in report.data["groups"][0]["comparisons"] if c["method"] == "uscd")
    assert [cell[0]["pass@1"] for cell in rows["uscd"]] == [1.0, 1.0, 0.8, 1.0]
    assert [cell[0].get("p_holm") for cell in rows["uscd"]] == [
        comp_uscd["p_holm"],
        comp_uscd["base"]["p_holm"],
        comp_uscd["plus"]["p_holm"],
        comp_uscd["heldout"]["p_holm"],
    ]
    assert rows["cd"][3] == [{"run": "cd", "pass@1": None, "paired": False}]  # never scored held-out
    assert rows["greedy"][3] == [{"run": "greedy", "pass@1": 0.2, "baseline": True}]
    md = render_stdout(report, "md")
    assert "| greedy | 60.0% | 60.0% | 40.0% | 20.0% |" in md
    (cd_row,) = [line for line in md.splitlines() if line.startswith("| cd | 0.0% (-60.0, p_H ")]
    assert cd_row.endswith(" | – |")  # a run of the group without held-out scores: a dash, not a blank


def test_a_method_without_a_baseline_and_repeated_labels_are_spelled_out(tmp_path):
    make_run(tmp_path / "a", "greedy", ids([True, False]))
    make_run(tmp_path / "b", "greedy", ids([True, True]))
    make_run(tmp_path / "c", "uscd", ids([True, True]), task="mbpp")
    report = build_report([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    md = render_stdout(report, "md")
    assert "| greedy | greedy (a): 50.0%; greedy (b): 100.0% |  |" in md
    assert "| uscd |  | 100.0% (not compared) |" in md


def test_short_model_names_only_where_they_name_one_model():
    from uscd.report.overview import short_models

    names = ["qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder-1.5B-Instruct", "tiny", "gpt2"]
    assert short_models(names) == {
        "qwen2.5-coder-0.5b-instruct": "0.5B",
        "Qwen2.5-Coder-1.5B-Instruct": "1.5B",
        "tiny": "tiny",
        "gpt2": "gpt2",
    }
    assert short_models(["alpha-7b", "beta-7b"]) == {"alpha-7b": "alpha-7b", "beta-7b": "beta-7b"}


# ---------------------------------------------------------------------------------------------
# the per-language figure of MultiPL-E


def multipl_e(root: Path, languages: list[str], *, chat: bool = False) -> list[Path]:
    folders = []
    for i, lang in enumerate(languages):
        task, prefix = f"multipl-e-{lang}", f"HumanEval_{lang}"
        style = "chat" if chat else None
        make_run(
            root / task,
            "greedy",
            ids([True, False, False, i % 2 == 0], prefix),
            task=task,
            prompt_style=style,
        )
        if lang != "lua":  # the method ran on some languages only
            make_run(
                root / task, "uscd", ids([True, True, False, True], prefix), task=task, prompt_style=style
            )
        folders.append(root / task)
    return folders


def test_the_language_figure_needs_two_multipl_e_languages_of_one_model(tmp_path):
    from uscd.report import write_report

    folders = multipl_e(tmp_path / "runs", ["rs", "lua", "cpp"])
    report = build_report(folders)
    (spec,) = [p for p in report.plots if p.kind == "languages"]
    assert spec.name == "multipl_e_tiny.png" and report.data["overview"]["plots"] == ["multipl_e_tiny.png"]
    assert spec.data["languages"] == ["cpp", "lua", "rs"]  # sorted
    greedy, uscd = spec.data["methods"]
    assert (greedy["label"], greedy["baseline"], uscd["label"]) == ("greedy", True, "uscd")
    assert uscd["points"][1] is None and uscd["points"][0]["pass@1"] == 0.75
    written = write_report(report, tmp_path / "out")
    assert tmp_path / "out" / "multipl_e_tiny.png" in written
    assert "![pass@1 per MultiPL-E language](multipl_e_tiny.png)" in (tmp_path / "out/report.md").read_text()
    assert "multipl_e_tiny.png" in json.loads((tmp_path / "out/report.json").read_text())["plots"]
    page = (tmp_path / "out/index.html").read_text()
    assert (
        "<h2>Overview</h2>" in page
        and '<img alt="pass@1 per MultiPL-E language" src="data:image/png;base64,' in page
    )
    # one language: no figure
    single = build_report(folders[:1])
    assert not [p for p in single.plots if p.kind == "languages"] and single.data["overview"]["plots"] == []
    write_report(single, tmp_path / "one")
    assert not list((tmp_path / "one").glob("multipl_e_*"))


def test_chat_multipl_e_runs_get_their_own_figure(tmp_path):
    folders = multipl_e(tmp_path / "completion", ["rs", "lua"]) + multipl_e(
        tmp_path / "chat", ["rs", "go"], chat=True
    )
    names = sorted(p.name for p in build_report(folders).plots if p.kind == "languages")
    assert names == ["multipl_e_tiny.png", "multipl_e_tiny_chat.png"]


def test_the_language_figure_is_the_same_bytes_every_time(tmp_path):
    from uscd.report import plots, write_report

    folders = multipl_e(tmp_path / "runs", ["rs", "lua", "cpp"])
    first = write_report(build_report(folders), tmp_path / "a")
    write_report(build_report(folders), tmp_path / "b")
    for path in first:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name
    (spec,) = [p for p in build_report(folders).plots if p.kind == "languages"]
    payload = plots.render(spec)
    assert payload.startswith(b"\x89PNG") and payload == plots.render(spec)
    assert payload == (tmp_path / "a" / spec.name).read_bytes()


def test_the_same_test_in_two_groups_is_one_test_of_the_family(tmp_path):
    """HumanEval+'s base tests are HumanEval's: a method's test on them, with the same per-problem
    outcomes, is counted once (another method with the same outcomes is another hypothesis)."""
    fixed = ids([True] * 10)
    make_run(tmp_path / "he", "greedy", ids([False] * 10))
    make_run(tmp_path / "he", "cd", fixed)
    make_run(tmp_path / "he", "uscd", fixed)
    make_run(tmp_path / "hep", "greedy", ids([False] * 10), task="humanevalplus", plus=ids([False] * 10))
    make_run(tmp_path / "hep", "cd", fixed, task="humanevalplus", plus=ids([True] * 5 + [False] * 5))
    report = build_report([tmp_path / "he", tmp_path / "hep"])
    holm = report.data["holm"]
    # he cd, he uscd, hep cd plus; hep cd main repeats he cd, its base part repeats its main
    assert (holm["tests"], holm["repeated_tests"], holm["base_plus_tests"]) == (3, 2, 1)
    he, hep = ({c["method"]: c for c in g["comparisons"]} for g in report.data["groups"])
    assert hep["cd"]["same_test_as"] == "humaneval · tiny" and "same_test_as" not in he["uscd"]
    assert (
        hep["cd"]["p_holm"] == hep["cd"]["base"]["p_holm"] == he["cd"]["p_holm"] == 0.005859
    )  # 0.001953 * 3
    assert hep["cd"]["plus"]["p_holm"] == 0.0625  # 2/32, last in Holm's order
    md = render_stdout(report, "md")
    assert "2 more tests repeat one of the family exactly" in md


def test_an_overview_of_several_models_and_kinds_is_one_table_per_part(tmp_path):
    """One table per model and kind of run (completion, chat, MultiPL-E), each with the methods that
    ran there and column titles without what the part's title says; report.json keeps one table."""
    for model in ("coder-0.5b", "coder-1.5b"):
        make_run(tmp_path / model / "he", "greedy", ids([True, False]), model=model)
    make_run(tmp_path / "coder-0.5b" / "he", "uscd", ids([True, True]), model="coder-0.5b")
    make_run(tmp_path / "chat", "greedy", ids([True, True]), model="coder-0.5b", prompt_style="chat")
    make_run(
        tmp_path / "cpp",
        "greedy",
        ids([False, False], "HumanEval_cpp"),
        task="multipl-e-cpp",
        model="coder-0.5b",
    )
    folders = [
        tmp_path / "coder-0.5b" / "he",
        tmp_path / "coder-1.5b" / "he",
        tmp_path / "chat",
        tmp_path / "cpp",
    ]
    report = build_report(folders)
    assert len(report.data["overview"]["columns"]) == 4
    md = render_stdout(report, "md")
    overview = md[md.index("## Overview") : md.index("## Verdicts")]
    titles = [line for line in overview.splitlines() if line.startswith("**")]
    assert titles == [
        "**Python, completion prompts · 0.5B**",
        "**Python, chat prompts · 0.5B**",
        "**MultiPL-E, completion prompts · 0.5B**",
        "**Python, completion prompts · 1.5B**",
    ]
    tables = overview.split("**")[2::2]
    assert "| method | humaneval |\n|---|---|\n| greedy | 50.0% |\n| uscd | 100.0% (+50.0, p_H" in tables[0]
    assert "| uscd |" not in tables[1] and "| method | cpp |" in tables[2]
    assert tables[3].count("\n| ") == 2  # greedy only: uscd did not run on the 1.5B


def test_runs_of_one_label_in_one_folder_are_named_by_their_own_folders(tmp_path):
    for name, flags in (("greedy-a", [True, False]), ("greedy-b", [True, True])):
        make_run(tmp_path / "runs", "greedy", ids(flags))
        (tmp_path / "runs" / "greedy").rename(tmp_path / "runs" / name)
    md = render_stdout(build_report([tmp_path / "runs"], strict_baseline=False), "md")
    assert "| greedy | greedy (greedy-a): 50.0%; greedy (greedy-b): 100.0% |" in md
