"""What the contrast actually did, from the traces of run folders (for docs/results.md).

    python scripts/contrast_stats.py RUN_FOLDER... [--top 12]

Per run: steps, contrast steps, contrast steps whose token differs from the one greedy would have
taken on the same prefix ("overrides"), overrides per sample, and the most frequent overrides as
greedy token -> chosen token. Reads only traces.jsonl; prints markdown.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def show(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1].replace("|", "\\|").replace("`", "'")


def stats(folder: Path, top: int) -> tuple[dict, list[tuple[str, int]]]:
    steps = contrast = overrides = samples = 0
    pairs: Counter[str] = Counter()
    with (folder / "traces.jsonl").open() as fh:
        for line in fh:
            t = json.loads(line)
            samples += 1
            steps += len(t["tokens"])
            for i, flag in enumerate(t["contrast"]):
                if flag != "1":
                    continue
                contrast += 1
                if t["tokens"][i] != t["greedy"][i]:
                    overrides += 1
                    pairs[f"`{show(t['greedy_text'][i])}` → `{show(t['text'][i])}`"] += 1
    row = {
        "run": folder.name,
        "samples": samples,
        "steps": steps,
        "contrast steps": contrast,
        "overrides": overrides,
        "overrides / contrast step": f"{overrides / contrast:.1%}" if contrast else "–",
        "overrides / sample": f"{overrides / samples:.2f}" if samples else "–",
    }
    return row, pairs.most_common(top)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    rows, tops = [], []
    for folder in args.folders:
        if not (folder / "traces.jsonl").is_file():
            raise SystemExit(f"error: {folder} has no traces.jsonl")
        row, common = stats(folder, args.top)
        rows.append(row)
        tops.append((folder.name, common))
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    for name, common in tops:
        if common:
            print(
                f"\nMost frequent overrides, {name} (greedy's token → chosen token: count): "
                + ", ".join(f"{p}: {n}" for p, n in common)
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
