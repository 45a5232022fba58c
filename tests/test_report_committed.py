"""The committed reports under docs/results are exactly what `uscd report` makes of the committed runs.

report.md and report.json only: they hold every number and do not depend on matplotlib's version
(the PNGs, and index.html which embeds them, do; `diff -r` in docs/results.md checks those).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from uscd.report import build_report
from uscd.report.markdown import to_markdown
from uscd.report.output import to_json

ROOT = Path(__file__).resolve().parents[1]
RUNS = Path("results")  # relative, as docs/results.md's commands give them: paths appear in the report

# the first verdict's methods by name: later runs in the same folders (peers, branch) have their own report
PEERS_AND_BRANCH = ("greedy", "adadec", "spa", "branch", "filter")
WAVE1_HUMANEVAL = ["greedy", "cd", "cfg", "uscd-cal", "uscd-official", "uscd-paper", "uscd-paper-offlame"]
WAVE1_MBPP = ["greedy", "cd", "cfg", "uscd-cal", "uscd-official", "uscd-paper"]
PEERS = ("greedy", "adadec", "spa")
WAVE1_15B = ["greedy", "cd", "cfg", "uscd-cal0.5b", "uscd-official", "uscd-paper"]
BRANCH = ("greedy", "branch", "filter")
MODELS = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")


def overview_folders() -> list[str]:
    """scripts/evidence_v2.sh's overview_folders: every scored HumanEval/MBPP/plus/chat/MultiPL-E folder."""
    found = []
    for model in MODELS:
        names = ["humaneval", "humanevalplus", "mbpp", "mbpp-b1", "humaneval-chat", "humanevalplus-chat"]
        names += ["mbppplus-snapshot", "mbppplus-snapshot-chat"]
        names += sorted(p.name for p in (ROOT / RUNS / model).glob("multipl-e-*"))
        found += [f"{model}/{n}" for n in names if (ROOT / RUNS / model / n).is_dir()]
    return found


def branch_folders() -> list[str]:
    """scripts/evidence_v2.sh's branch_folders: each model's greedy/branch/filter runs, chat mode's and
    MultiPL-E's where branch ran."""
    small, large = MODELS
    paths = [f"{small}/humaneval/{m}" for m in BRANCH] + [f"{small}/mbpp-b1"]
    paths += [f"{large}/humaneval/{m}" for m in BRANCH] + [f"{large}/mbpp/{m}" for m in BRANCH]
    paths += [f"{small}/humaneval-chat/{m}" for m in BRANCH] + [
        f"{small}/mbppplus-snapshot-chat/{m}" for m in BRANCH
    ]
    languages = sorted(p.name for p in (ROOT / RUNS / small).glob("multipl-e-*") if (p / "branch").is_dir())
    paths += [f"{small}/{lang}/{m}" for lang in languages for m in BRANCH]
    return [p for p in paths if (ROOT / RUNS / p).is_dir()]


REPORTS = {
    "docs/results": {
        "paths": [f"qwen2.5-coder-0.5b/humaneval/{m}" for m in WAVE1_HUMANEVAL]
        + [f"qwen2.5-coder-0.5b/mbpp/{m}" for m in WAVE1_MBPP]
        + [f"qwen2.5-coder-1.5b/humaneval/{m}" for m in WAVE1_15B],
        "baseline": "greedy",
        "calibration_grid": "qwen2.5-coder-0.5b/calibration-mbpp-validation",
    },
    "docs/results/methods": {
        "paths": [f"qwen2.5-coder-0.5b/{task}/{m}" for task in ("humaneval", "mbpp") for m in PEERS],
        "baseline": "greedy",
    },
    "docs/results/sampled": {"paths": ["qwen2.5-coder-0.5b/humaneval-t0.8-n10"], "baseline": "sample"},
    "docs/results/humaneval-peers-branch": {
        "paths": [f"qwen2.5-coder-0.5b/humaneval/{m}" for m in PEERS_AND_BRANCH],
        "baseline": "greedy",
    },
    "docs/results/branch": {"paths": branch_folders(), "baseline": "greedy"},
    "docs/results/overview": {"paths": overview_folders(), "baseline": "greedy"},
}


@pytest.mark.parametrize("out", sorted(REPORTS))
def test_committed_report_is_regenerated_byte_for_byte(out, monkeypatch):
    spec = REPORTS[out]
    if not all((ROOT / RUNS / p).is_dir() for p in spec["paths"]):
        pytest.skip("the committed run folders are not in this checkout")
    monkeypatch.chdir(ROOT)
    grid = spec.get("calibration_grid")
    report = build_report(
        [RUNS / p for p in spec["paths"]],
        spec["baseline"],
        strict_baseline=True,
        calibration_grid=RUNS / grid if grid else None,
    )
    figures = sorted(p.name for p in report.plots)
    data = report.data | {"plots": figures}
    assert to_json(data) == (ROOT / out / "report.json").read_text(encoding="utf-8")
    assert to_markdown(data, set(figures)) == (ROOT / out / "report.md").read_text(encoding="utf-8")


def test_results_page_leads_with_the_committed_overview():
    """docs/results.md holds the overview report's tables and verdicts (scripts/results_overview.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("results_overview", ROOT / "scripts/results_overview.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0
