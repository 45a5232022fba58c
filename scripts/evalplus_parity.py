"""Parity of uscd's HumanEval+/MBPP+ verdicts with evalplus's own `evalplus.evaluate`, per task.

Run with the interpreter of a venv that has evalplus (it is not a uscd dependency):

    python -m venv /tmp/evalplus-venv && /tmp/evalplus-venv/bin/pip install evalplus==0.3.1
    uscd evaluate --task humanevalplus --samples SAMPLES --out /tmp/ours-he
    PYTHONPATH=src /tmp/evalplus-venv/bin/python scripts/evalplus_parity.py \\
        --task humanevalplus --samples SAMPLES --ours /tmp/ours-he/results.jsonl

evalplus executes model-generated code in its own process family, so it runs here *inside*
uscd's sandbox (`uscd.execution.run_program`, process level: evalplus's multiprocessing needs
/dev/shm, which the namespace level does not offer): this venv's interpreter is the sandbox's, which
makes its site-packages (evalplus) visible there; the dataset and the samples are written into the
sandbox's work dir by the program itself, and the dataset override variables point evalplus at
them (no network). The program prints each task's base and plus status in one line at the end.

Also checked, outside the sandbox (no model code involved): evalplus's MBPP+ input conversion
(`mbpp_deserialize_inputs`) against uscd's harness on every input of the dataset.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = {
    "humanevalplus": SHARED / "humanevalplus" / "HumanEvalPlus.jsonl.gz",
    "mbppplus": SHARED / "mbppplus" / "MbppPlus.jsonl.gz",
}
DATASET = {"humanevalplus": "humaneval", "mbppplus": "mbpp"}
OVERRIDE = {"humaneval": "HUMANEVAL_OVERRIDE_PATH", "mbpp": "MBPP_OVERRIDE_PATH"}
CODE = {"pass": "P", "fail": "F", "timeout": "T", None: "N"}

PROGRAM = """
import base64, gzip, json, os
os.makedirs("ep", exist_ok=True)
with open("ep/data.jsonl", "wb") as fh:
    fh.write(gzip.decompress(base64.b64decode(DATA)))
with open("ep/samples.jsonl", "w") as fh:
    fh.write(SAMPLES)
os.environ[OVERRIDE] = os.path.abspath("ep/data.jsonl")
from evalplus.evaluate import evaluate
evaluate(DATASET, samples="ep/samples.jsonl", parallel=WORKERS, i_just_wanna_run=True)
with open("ep/samples_eval_results.json") as fh:
    results = json.load(fh)["eval"]
codes = {"pass": "P", "fail": "F", "timeout": "T", None: "N"}
line = "".join(
    codes[results[t][0]["base_status"]] + codes[results[t][0]["plus_status"]] for t in ORDER
)
print("\\nVERDICTS " + line)
"""


def evalplus_id(task: str, task_id: str) -> str:
    if task == "mbppplus" and task_id.isdigit():
        return f"Mbpp/{task_id}"
    return task_id


def load_jsonl(path: Path) -> list[dict]:
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def evalplus_inputs(task: str, records: list[dict], samples: list[dict]) -> tuple[list[dict], list[dict]]:
    """The dataset cut to the tasks the samples answer (evalplus needs every task answered) and
    the samples as evalplus rows (first sample per task; `solution` as uscd scores it)."""
    prompts = {r["task_id"]: r["prompt"] for r in records}
    rows: dict[str, dict] = {}
    for s in samples:
        tid = evalplus_id(task, str(s["task_id"]))
        if tid in prompts and tid not in rows:
            solution = s.get("solution") or prompts[tid] + s["completion"]
            rows[tid] = {"task_id": tid, "solution": solution}
    kept = [r for r in records if r["task_id"] in rows]
    return kept, [rows[r["task_id"]] for r in kept]


def run_evalplus(task: str, records: list[dict], rows: list[dict], workers: int) -> dict[str, str]:
    from uscd.execution import Limits, run_program

    data = "\n".join(json.dumps(r) for r in records) + "\n"
    consts = {
        "DATA": base64.b64encode(gzip.compress(data.encode())).decode(),
        "SAMPLES": "\n".join(json.dumps(r) for r in rows) + "\n",
        "OVERRIDE": OVERRIDE[DATASET[task]],
        "DATASET": DATASET[task],
        "WORKERS": workers,
        "ORDER": [r["task_id"] for r in rows],
    }
    program = "".join(f"{k} = {v!r}\n" for k, v in consts.items()) + PROGRAM
    limits = Limits(
        wall_s=3600, cpu_s=7200, address_space_mb=16384, file_size_mb=2048, nproc=256, nofile=1024,
        output_bytes=8 << 20,
    )  # fmt: skip
    # the process level: evalplus's multiprocessing needs POSIX semaphores (/dev/shm), which the
    # namespace level does not provide; the program still runs as the sandbox uid under rlimits
    result = run_program(program, limits=limits, level="process")
    line = next((x for x in result.stdout_tail.splitlines() if x.startswith("VERDICTS ")), None)
    if not result.passed or line is None:
        sys.exit(
            f"evalplus did not finish in the sandbox: {result.status} {result.reason}\n{result.stderr_tail}"
        )
    codes = line.split(" ", 1)[1]
    return {r["task_id"]: codes[2 * i : 2 * i + 2] for i, r in enumerate(rows)}


def our_verdicts(task: str, path: Path) -> dict[str, dict]:
    out = {}
    for row in load_jsonl(path):
        tid = evalplus_id(task, row["task_id"])
        if int(row.get("sample_idx", 0)) == 0:
            out[tid] = row
    return out


def compare(theirs: dict[str, str], ours: dict[str, dict]) -> dict:
    diffs = []
    for tid, codes in theirs.items():
        row = ours.get(tid)
        if row is None:
            diffs.append({"task_id": tid, "missing": "no uscd result"})
            continue
        mine = ("P" if row["base_passed"] else "F") + ("P" if row["plus_passed"] else "F")
        if (codes[0] == "P") != (mine[0] == "P") or (codes[1] == "P") != (mine[1] == "P"):
            diffs.append({"task_id": tid, "evalplus": codes, "uscd": mine, "uscd_reason": row["reason"]})
    n = len(theirs)
    return {
        "tasks": n,
        "evalplus_base_pass": sum(c[0] == "P" for c in theirs.values()),
        "evalplus_plus_pass": sum(c[0] == c[1] == "P" for c in theirs.values()),
        "uscd_base_pass": sum(bool(ours[t]["base_passed"]) for t in theirs if t in ours),
        "uscd_plus_pass": sum(bool(ours[t]["passed"]) for t in theirs if t in ours),
        "differences": diffs,
    }


def deserialize_parity(records: list[dict]) -> int:
    """evalplus's MBPP+ input conversion vs uscd's harness on every input; returns inputs compared."""
    from evalplus.data.mbpp import mbpp_deserialize_inputs

    spec = importlib.util.spec_from_file_location("h", ROOT / "src/uscd/tasks/_plus_harness.py")
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    compared = 0
    for r in records:
        for key in ("base_input", "plus_input"):
            theirs = mbpp_deserialize_inputs(r["task_id"], json.loads(json.dumps(r[key])))
            ours = harness.deserialize("mbpp", r["task_id"], json.loads(json.dumps(r[key])))
            if repr(theirs) != repr(ours):
                sys.exit(f"input conversion differs for {r['task_id']} {key}")
            compared += len(ours)
    return compared


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(DATA), required=True)
    ap.add_argument("--samples", type=Path, required=True, help="the samples file both sides score")
    ap.add_argument("--ours", type=Path, required=True, help="results.jsonl of `uscd evaluate --samples`")
    ap.add_argument("--data", type=Path, default=None, help="dataset file (default: the shared copy)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write the comparison as JSON here")
    args = ap.parse_args()
    records = load_jsonl(args.data or DATA[args.task])
    kept, rows = evalplus_inputs(args.task, records, load_jsonl(args.samples))
    report = {"task": args.task, "samples": str(args.samples)}
    if args.task == "mbppplus":
        report["inputs_converted_identically"] = deserialize_parity(records)
    report.update(
        compare(run_evalplus(args.task, kept, rows, args.workers), our_verdicts(args.task, args.ours))
    )
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
