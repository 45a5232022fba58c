"""Pass@1 of greedy vs AdaDec (AdaFixL) in the AdaDec authors' own released outputs, paired.

    python scripts/adadec_released_outputs.py PATH/TO/AdaDec-clone [--commit 8624555]

Reads experiments/{humaneval,mbpp}_outputs/<model>/{greedy,adaFixL}/*.jsonl at the given commit of
a clone of SYSUSELab/AdaDec (the files were later zipped) and prints, per benchmark and model, both
pass rates and the exact McNemar test on the problems both runs hold (docs/methods.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uscd.metrics import mcnemar_exact

COMMIT = "8624555e4c82451950a8caadb2921c2eed04ae7a"


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True, check=True).stdout


def outcomes(clone: Path, commit: str, path: str) -> dict:
    out = {}
    for i, line in enumerate(git(clone, "show", f"{commit}:{path}").splitlines()):
        if line.strip():
            rec = json.loads(line)
            out[rec.get("task_id", rec.get("problem_id", i))] = bool(rec.get("passed", rec.get("evaluation")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clone", type=Path)
    ap.add_argument("--commit", default=COMMIT)
    args = ap.parse_args()
    runs: dict[tuple[str, str], dict[str, dict]] = {}
    for path in git(args.clone, "ls-tree", "-r", "--name-only", args.commit).splitlines():
        parts = path.split("/")
        if len(parts) == 5 and parts[0] == "experiments" and parts[3] in ("greedy", "adaFixL"):
            runs.setdefault((parts[1], parts[2]), {})[parts[3]] = outcomes(args.clone, args.commit, path)
    for (bench, model), by_mode in sorted(runs.items()):
        greedy, ada = by_mode["greedy"], by_mode["adaFixL"]
        ids = sorted(set(greedy) & set(ada), key=str)
        test = mcnemar_exact([greedy[i] for i in ids], [ada[i] for i in ids])
        g, a = (100 * sum(run[i] for i in ids) / len(ids) for run in (greedy, ada))
        print(
            f"{bench:18} {model:14} n={len(ids):3}  greedy {g:5.1f}%  adadec {a:5.1f}%  "
            f"fail->pass {test.b:2}  pass->fail {test.c:2}  p = {test.p_value:.3f}"
        )


if __name__ == "__main__":
    main()
