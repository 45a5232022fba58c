"""Soak: `uscd serve` under a long mixed load over loopback — valid completions and chats (greedy and
uscd), clients that hang up mid-stream, and every class of bad input — bounded in count and time.
Reports requests served, answers by class and status (and any status other than the expected
one), slots still taken once the load is over (leaked), whether the server process restarted or
its engine thread died, and its memory before and after.

    flock /tmp/uscd-model.lock python benchmarks/soak_serve.py [--requests 500] [--max-seconds 900]
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from collections import Counter

from _common import emit, humaneval, model_lock, table
from _servers import free_port, get, leave_mid_stream, post, rss_mib, server, uscd_serve_argv

MODEL = "default"
# kind -> share of the requests, and the status it must get
MIX = {
    "completion": (0.30, 200),
    "completion-uscd": (0.10, 200),
    "chat": (0.10, 200),
    "disconnect": (0.15, None),
    "malformed-json": (0.05, 400),
    "unknown-knob": (0.05, 400),
    "unknown-model": (0.05, 404),
    "prompt-too-long": (0.05, 400),
    "bad-type": (0.05, 422),
    "empty-prompt": (0.05, 400),
    "bad-knob-value": (0.05, 400),
}


def plan(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    kinds = list(MIX)
    return rng.choices(kinds, weights=[MIX[k][0] for k in kinds], k=n)


def send(port: int, kind: str, prompt: str, max_tokens: int) -> int | None:
    """One request of a kind; its status (None for a client that hung up)."""
    base = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    if kind == "disconnect":
        leave_mid_stream(port, {**base, "max_tokens": 200}, lines=3)
        return None
    bodies = {
        "completion": base,
        "completion-uscd": {**base, "uscd": {"method": "uscd"}},
        "malformed-json": b'{"model": "default", "prompt": ',
        "unknown-knob": {**base, "uscd": {"rule": "uscd", "rhoo": 0.3}},
        "unknown-model": {**base, "model": "gpt-nope"},
        "prompt-too-long": {**base, "prompt": "x = 1\n" * 3000},
        "bad-type": {**base, "max_tokens": "many"},
        "empty-prompt": {**base, "prompt": "  "},
        "bad-knob-value": {**base, "uscd": {"rule": "cd", "rho": -2}},
    }
    if kind == "chat":
        chat = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
        return post(port, "/v1/chat/completions", chat).status
    return post(port, "/v1/completions", bodies[kind]).status


def soak(
    port: int, kinds: list[str], prompts: list[str], workers: int, max_tokens: int, budget_s: float
) -> dict:
    outcomes: Counter = Counter()
    lock = threading.Lock()
    queue = list(enumerate(kinds))
    deadline = time.monotonic() + budget_s

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                i, kind = queue.pop()
            try:
                status = send(port, kind, prompts[i % len(prompts)], max_tokens)
            except OSError as exc:
                status = f"client error {type(exc).__name__}"
            with lock:
                outcomes[(kind, status)] += 1

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"outcomes": outcomes, "wall_s": round(time.perf_counter() - t0, 1), "not_sent": len(queue)}


def settle(port: int, wait_s: float = 60.0) -> dict:
    """/health once the server had time to drop what the last clients left."""
    deadline = time.monotonic() + wait_s
    health = get(port, "/health")
    while (health["in_flight"] or health["waiting"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        health = get(port, "/health")
    return health


def main(argv=None) -> dict:
    from uscd.models import resolve

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--workers", type=int, default=8, help="concurrent clients")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="stop sending after this long")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args(argv)

    path = str(resolve(args.model))
    prompts = [p.prompt for p in humaneval(20)]
    port = free_port()
    with (
        model_lock(),
        server(uscd_serve_argv(path, port, args.threads, 2048, args.batch, "greedy,uscd"), port) as proc,
    ):
        post(port, "/v1/completions", {"model": MODEL, "prompt": prompts[0], "max_tokens": 8})  # warm-up
        rss_before, pid = rss_mib(proc.pid), proc.pid
        result = soak(port, plan(args.requests), prompts, args.workers, args.max_tokens, args.max_seconds)
        health = settle(port)
        rss_after = rss_mib(proc.pid)
        restarts = int(proc.poll() is not None or proc.pid != pid) + int(not health["engine_alive"])
    return report(result, health, rss_before, rss_after, restarts)


def report(result: dict, health: dict, rss_before: float, rss_after: float, restarts: int) -> dict:
    outcomes = result["outcomes"]
    rows, unexpected = [], 0
    for (kind, status), count in sorted(outcomes.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        expected = MIX[kind][1]
        bad = kind != "disconnect" and status != expected
        unexpected += count if bad else 0
        rows.append(
            [
                kind,
                status if status is not None else "hung up",
                expected or "-",
                count,
                "UNEXPECTED" if bad else "",
            ]
        )
    print(table(["kind", "status", "expected", "count", ""], rows))
    served = sum(c for (kind, status), c in outcomes.items() if status == 200)
    leaked = health["in_flight"] + health["waiting"]
    sent = sum(outcomes.values())
    print(f"sent {sent} in {result['wall_s']} s ({result['not_sent']} not sent: time budget); "
          f"served {served}; unexpected statuses {unexpected}; slots leaked {leaked}; restarts {restarts}; "
          f"RSS {rss_before:.0f} -> {rss_after:.0f} MiB; engine outcomes {health['outcomes']}")  # fmt: skip
    ok = unexpected == 0 and leaked == 0 and restarts == 0
    return emit(
        "SOAK", float(served), "0 leaked, 0 restarts, every status as expected", ok, sent=sent,
        unexpected=unexpected, leaked=leaked, restarts=restarts, rss_before_mib=round(rss_before, 1),
        rss_after_mib=round(rss_after, 1), wall_s=result["wall_s"], engine_outcomes=health["outcomes"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
