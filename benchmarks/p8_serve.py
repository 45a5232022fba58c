"""P8: `uscd serve` against llama-cpp-python's own OpenAI server (`python -m llama_cpp.server`) under
the same load: C concurrent clients, each sending K HumanEval prompts one after the other (greedy,
M new tokens, no stop sequences), non-streamed, over loopback. Same model file, same thread count,
one server after the other in this script. Throughput is completion tokens / wall time of the
whole load; latency is per request. `uscd serve` runs the load twice, greedy and with the uscd
method (its cost at the same load), in the same server process.

    flock /tmp/uscd-model.lock python benchmarks/p8_serve.py [--clients 8] [--per-client 8] [--max-tokens 128]

Needs `pip install 'uscd[serve,bench-serve]'` (the baseline server's dependencies).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from _common import emit, humaneval, model_lock, table
from _servers import free_port, llama_cpp_server_argv, post, rss_mib, server, uscd_serve_argv


def run_load(port: int, model: str, prompts: list[str], clients: int, per_client: int, body: dict) -> dict:
    """Every client sends its `per_client` prompts in turn; the wall time covers all of them."""
    replies: list = []
    lock = threading.Lock()

    def client(c: int) -> None:
        for i in range(per_client):
            prompt = prompts[(c + i) % len(prompts)]
            reply = post(port, "/v1/completions", {"model": model, "prompt": prompt, **body})
            with lock:
                replies.append(reply)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return summarize(replies, wall)


def summarize(replies: list, wall: float) -> dict:
    ok = [r for r in replies if r.status == 200 and r.body]
    tokens = sum(r.body["usage"]["completion_tokens"] for r in ok)
    latencies = sorted(r.seconds for r in ok)
    report = [r.body["choices"][0].get("uscd", {}) for r in ok]
    steps = sum(x.get("steps", 0) for x in report)
    return {
        "requests": len(replies),
        "ok": len(ok),
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "tok_per_s": round(tokens / wall, 2),
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(_quantile(latencies, 0.95), 2) if latencies else None,
        "contrast_rate": round(sum(x.get("contrast_steps", 0) for x in report) / steps, 3) if steps else None,
    }


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def measure_uscd(path: str, prompts, args) -> dict:
    port = free_port()
    argv = uscd_serve_argv(path, port, args.threads, args.n_ctx, args.batch, "greedy,uscd")
    body = {"max_tokens": args.max_tokens, "temperature": 0}
    with server(argv, port) as proc:
        model = "default"
        post(port, "/v1/completions", {"model": model, "prompt": prompts[0], "max_tokens": 8})  # warm-up
        greedy = run_load(
            port, model, prompts, args.clients, args.per_client, {**body, "uscd": {"method": "greedy"}}
        )
        uscd = run_load(
            port, model, prompts, args.clients, args.per_client, {**body, "uscd": {"method": "uscd"}}
        )
        return {"greedy": greedy, "uscd": uscd, "rss_mib": round(rss_mib(proc.pid), 1)}


def measure_baseline(path: str, prompts, args) -> dict:
    port = free_port()
    argv = llama_cpp_server_argv(path, port, args.threads, args.n_ctx)
    with server(argv, port) as proc:
        post(port, "/v1/completions", {"model": "baseline", "prompt": prompts[0], "max_tokens": 8})
        body = {"max_tokens": args.max_tokens, "temperature": 0}
        load = run_load(port, "baseline", prompts, args.clients, args.per_client, body)
        return {"greedy": load, "rss_mib": round(rss_mib(proc.pid), 1)}


def main(argv=None) -> dict:
    import os

    from uscd.models import resolve

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="registry name or .gguf (default: the embedded 0.5B)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=8, help="HumanEval prompts (the first N)")
    ap.add_argument("--per-client", type=int, default=8, help="requests each client sends in turn")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--n-ctx", type=int, default=2048, help="tokens per sequence, both servers")
    ap.add_argument("--batch", type=int, default=8, help="uscd serve's batch (slots)")
    args = ap.parse_args(argv)

    path = str(resolve(args.model))
    prompts = [p.prompt for p in humaneval(args.prompts)]
    with model_lock():
        ours = measure_uscd(path, prompts, args)
        base = measure_baseline(path, prompts, args)
    rows = [
        ["uscd serve, greedy", *_row(ours["greedy"]), ours["rss_mib"]],
        ["uscd serve, uscd", *_row(ours["uscd"]), ours["rss_mib"]],
        ["llama_cpp.server, greedy", *_row(base["greedy"]), base["rss_mib"]],
    ]
    print(table(["server", "ok", "tokens", "wall s", "tok/s", "p50 s", "p95 s", "contrast", "RSS MiB"], rows))
    ratio = ours["greedy"]["tok_per_s"] / base["greedy"]["tok_per_s"]
    cost = ours["greedy"]["tok_per_s"] / ours["uscd"]["tok_per_s"]
    return emit(
        "P8", ratio, ">= 1.5", ratio >= 1.5, uscd_cost=round(cost, 3), clients=args.clients,
        per_client=args.per_client, max_tokens=args.max_tokens, threads=args.threads,
        uscd=ours, baseline=base,
    )  # fmt: skip


def _row(load: dict) -> list:
    return [
        f"{load['ok']}/{load['requests']}", load["tokens"], load["wall_s"], load["tok_per_s"],
        load["p50_s"], load["p95_s"], load["contrast_rate"] if load["contrast_rate"] is not None else "-",
    ]  # fmt: skip


if __name__ == "__main__":
    main()
