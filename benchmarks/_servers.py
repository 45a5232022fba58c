"""OpenAI-compatible servers as child processes on loopback, and a plain HTTP client for them
(the same client for every server: http.client, one connection per request)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    body: dict | None
    seconds: float


def post(port: int, path: str, body, timeout: float = 600.0) -> Reply:
    """One request; the body may be bytes (sent as they are) or a JSON-able object."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, body=data, headers={"content-type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Reply(response.status, parsed, time.perf_counter() - t0)
    finally:
        conn.close()


def get(port: int, path: str, timeout: float = 10.0) -> dict:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def leave_mid_stream(port: int, body: dict, lines: int = 3) -> int:
    """Start a streamed completion, read a few SSE lines, hang up. The lines read."""
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request(
            "POST",
            "/v1/completions",
            body=json.dumps({**body, "stream": True}),
            headers={"content-type": "application/json"},
        )
        response = conn.getresponse()
        got = 0
        while got < lines:
            line = response.readline()
            if not line:
                break
            got += bool(line.strip())
        return got
    finally:
        conn.close()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def server(argv: list[str], port: int, ready_path: str = "/v1/models", timeout: float = 300.0, log=None):
    """Run a server command until the block ends; wait until it answers `ready_path`."""
    proc = subprocess.Popen(
        argv, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(argv[:4])}... exited with {proc.returncode} before it was ready"
                )
            try:
                get(port, ready_path, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer within {timeout:.0f} s") from None
                time.sleep(0.5)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def uscd_serve_argv(model: str, port: int, threads: int, n_ctx: int, batch: int, methods: str) -> list[str]:
    return [
        sys.executable, "-m", "uscd", "serve", "--model", model, "--host", HOST, "--port", str(port),
        "--threads", str(threads), "--n-ctx", str(n_ctx), "--batch", str(batch), "--method", methods,
    ]  # fmt: skip


def llama_cpp_server_argv(model: str, port: int, threads: int, n_ctx: int) -> list[str]:
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", HOST, "--port", str(port),
        "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", str(n_ctx),
        "--interrupt_requests", "False", "--model_alias", "baseline",
    ]  # fmt: skip
