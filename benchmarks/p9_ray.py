"""P9: `uscd eval --ray` with 2 single-thread workers vs a local single-stream run with 2 threads,
same problems and methods (generation only): the wall-time ratio, and whether the samples agree.

On this 2-core machine both arms decode with the same two cores, so the ratio measures Ray's
overhead (actor start-up and model loading per worker, the round trips per shard), not a speed-up.
The Ray arm starts its own one-machine cluster (``--ray local``, 2 CPUs).

    flock /tmp/uscd-model.lock python benchmarks/p9_ray.py [--limit 10] [--methods greedy,uscd]
        [--model M] [--backend llama|hf] [--max-new-tokens 512]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import Timer, emit, model_lock, table


def _run(out: Path, args, ray: bool) -> float:
    from uscd.run.ray_engine import RaySettings
    from uscd.run.settings import EvalSettings, GenerationSettings, ModelSettings, RunSettings
    from uscd.runner import parse_methods, run_eval

    run = RunSettings(
        "humaneval", {}, parse_methods(args.methods), out, limit=args.limit, generation_only=True
    )
    ray_settings = RaySettings(address="local", workers=2, threads=1) if ray else None
    model = ModelSettings(name=args.model, backend=args.backend, threads=1 if ray else 2, ray=ray_settings)
    generation = GenerationSettings(max_new_tokens=args.max_new_tokens, batch=1, save_traces=False)
    with Timer() as t:
        run_eval(EvalSettings(run, model, generation))
    if ray:
        import ray as ray_module

        ray_module.shutdown()
    return t.s


def _completions(folder: Path) -> dict:
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return {(r["task_id"], r["sample_idx"]): r["completion"] for r in rows}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--methods", default="greedy,uscd")
    ap.add_argument("--model", default=None)
    ap.add_argument("--backend", default="llama", choices=["llama", "hf"])
    ap.add_argument("--max-new-tokens", type=int, default=512)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="uscd-p9-") as tmp, model_lock():
        local_s = _run(Path(tmp) / "local", args, ray=False)
        ray_s = _run(Path(tmp) / "ray", args, ray=True)
        labels = [m.split("=")[0].split(":")[0] for m in args.methods.split(",")]
        same = sum(
            _completions(Path(tmp) / "local" / m) == _completions(Path(tmp) / "ray" / m) for m in labels
        )
    ratio = ray_s / local_s
    print(f"P9: humaneval x {args.limit}, methods {args.methods}, generation only")
    print(table(["arm", "wall s"], [["local, 2 threads", local_s], ["ray, 2 x 1 thread", ray_s]]))
    print("(2 cores: the ratio is Ray's overhead, not a speed-up)")
    return emit(
        "P9", ratio, "ray / local wall time (overhead on 2 cores)", None,
        local_s=round(local_s, 2), ray_s=round(ray_s, 2), methods_with_identical_samples=same,
        methods=len(labels),
    )  # fmt: skip


if __name__ == "__main__":
    main()
