"""`uscd eval --ray` on a local Ray cluster the tests start (head on 127.0.0.1, 2 CPUs, 2 workers of
1 thread each), with a tiny random HF model: the run folders equal a local `--batch 1` run's, a
killed worker loses nothing, a killed driver resumes, and a cluster or model that is not there is
a one-line error before any shard is sent."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
HUMANEVAL = ROOT.parent / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
if not HUMANEVAL.exists():
    pytest.skip(f"{HUMANEVAL} is not available", allow_module_level=True)

METHODS = "greedy,uscd"
PROBLEMS = 10
MAX_NEW = 40
TIMINGS = ("prefill_s", "decode_s", "started_at", "finished_at")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    # an explicit auth mode: Ray 2.60 turns token auth on for any cluster once ~/.ray/auth_token
    # exists (a `ray.init()` local cluster writes one), and this test's head must not depend on that
    return {**os.environ, "PYTHONPATH": str(SRC), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from uscd.engine.backends.tiny_hf import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="module")
def cluster():
    """A Ray head on 127.0.0.1 with 2 CPUs; its address. Stopped by its process group."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="uscd-ray-", dir="/tmp")  # unix socket paths must stay short
    head = subprocess.Popen(
        [_ray_script(), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--object-store-memory=100000000",
         "--disable-usage-stats", f"--temp-dir={temp}"],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, "ray start exited"
                time.sleep(0.5)
        else:
            pytest.fail("the Ray head did not come up")
        yield f"127.0.0.1:{port}"
    finally:
        _stop_group(head)
        shutil.rmtree(temp, ignore_errors=True)


def _ray_script() -> str:
    beside = Path(sys.executable).with_name("ray")  # the ray installed with this interpreter
    return str(beside) if beside.exists() else "ray"


def _session_pids(session: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == session:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop the head and everything it started: all of them share its session (the workers have
    process groups of their own)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
    for pid in _session_pids(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _eval_cmd(out: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "uscd", "eval", "humaneval", "--data", str(HUMANEVAL), "--backend", "hf",
        "--model", str(model), "--limit", str(PROBLEMS), "--methods", METHODS,
        "--max-new-tokens", str(MAX_NEW), "--threads", "1", "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)


def _samples(folder: Path) -> dict:
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    keys = [(r["task_id"], r["sample_idx"]) for r in rows]
    assert len(keys) == len(set(keys)), f"{folder}: a sample was written twice"
    for r in rows:
        for name in TIMINGS:
            r["stats"].pop(name, None)
    return dict(zip(keys, rows, strict=True))


# what a sample says regardless of how its auxiliary lanes were kept in sync (the batched driver
# feeds them along on consecutive uncertain steps: other sync counters, the same tokens)
DECISIONS = ("finish_reason", "steps", "uncertain_steps", "contrast_steps", "new_tokens", "prompt_tokens")


def _decisions(samples: dict) -> dict:
    return {
        key: (r["completion"], r["solution"], r["seed"], {k: r["stats"].get(k) for k in DECISIONS})
        for key, r in samples.items()
    }


def _assert_same_samples(got: Path, expected: Path, *, records: bool = True) -> None:
    """The same samples as the local run; whole records when `records`, else the decisions."""
    for method in METHODS.split(","):
        mine, theirs = _samples(got / method), _samples(expected / method)
        assert len(theirs) == PROBLEMS
        if not records:
            mine, theirs = _decisions(mine), _decisions(theirs)
        assert mine == theirs, f"{method}: samples differ from the local run's"
        config = json.loads((got / method / "config.json").read_text())
        local = json.loads((expected / method / "config.json").read_text())
        assert config["config_hash"] == local["config_hash"]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, tiny_model) -> Path:
    out = tmp_path_factory.mktemp("local")
    done = _run(_eval_cmd(out, tiny_model, "--batch", "1"))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.mark.slow
def test_ray_run_equals_the_local_run(tmp_path, tiny_model, cluster, local_run):
    done = _run(_eval_cmd(tmp_path, tiny_model, "--ray", cluster, "--ray-workers", "2"))
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same_samples(tmp_path, local_run)
    for method in METHODS.split(","):
        assert sorted(p.name for p in (tmp_path / method).iterdir()) == sorted(
            p.name for p in (local_run / method).iterdir()
        )
        mine = json.loads((tmp_path / method / "summary.json").read_text())
        theirs = json.loads((local_run / method / "summary.json").read_text())
        assert mine["pass@1"] == theirs["pass@1"] and mine["statuses"] == theirs["statuses"]


def _worker_pids(session: int) -> list[int]:
    """The cluster's actor processes (Ray titles them ray::_Worker...), by the head's session."""
    pids = []
    for pid in _session_pids(session):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_Worker"):
                pids.append(pid)
    return pids


def _wait_for_samples(folder: Path, n: int, proc: subprocess.Popen) -> None:
    path = folder / "greedy" / "samples.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, (
            f"the run ended early: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
        )
        time.sleep(0.05)
    pytest.fail("no samples appeared")


@pytest.mark.slow
def test_a_killed_worker_loses_no_sample(tmp_path, tiny_model, cluster, local_run):
    cmd = _eval_cmd(tmp_path, tiny_model, "--ray", cluster, "--ray-workers", "2", "--generation-only")
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_samples(tmp_path, 3, proc)
    session = os.getsid(_head_pid(cluster))
    victims = _worker_pids(session)
    assert len(victims) == 2 and proc.poll() is None
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    _assert_same_samples(tmp_path, local_run)


def _head_pid(address: str) -> int:
    """The `ray start --block` process serving `address` (the fixture's head)."""
    port = address.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--block" in cmd and f"--port={port}".encode() in cmd:
                return int(entry.name)
    raise AssertionError("the Ray head process is gone")


@pytest.mark.slow
def test_a_killed_driver_resumes(tmp_path, tiny_model, cluster, local_run):
    cmd = _eval_cmd(tmp_path, tiny_model, "--ray", cluster, "--ray-workers", "2", "--generation-only")
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    _wait_for_samples(tmp_path, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    written = len((tmp_path / "greedy" / "samples.jsonl").read_text().splitlines())
    assert written < PROBLEMS or not (tmp_path / "uscd" / "samples.jsonl").exists()
    done = _run(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same_samples(tmp_path, local_run)


@pytest.mark.slow
def test_a_worker_without_the_model_fails_before_any_shard(tmp_path, cluster):
    done = _run(_eval_cmd(tmp_path / "out", tmp_path / "missing", "--ray", cluster, "--generation-only"))
    assert done.returncode != 0
    assert "cannot load the model" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_cluster_is_a_one_line_error(tmp_path, tiny_model):
    port = _free_port()  # nothing listens there
    done = _run(_eval_cmd(tmp_path / "out", tiny_model, "--ray", f"127.0.0.1:{port}", "--generation-only"))
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the Ray cluster" in lines[0], done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_batched_shards_decode_together(tmp_path, tiny_model, cluster, local_run):
    """--batch 2: each shard is two requests decoded by the batched driver on one actor; on this
    model batching changes no token (tests/test_backend_hf_batched.py), so the completions and the
    decisions are those of the local --batch 1 run."""
    cmd = _eval_cmd(tmp_path, tiny_model, "--ray", cluster, "--batch", "2", "--generation-only")
    done = _run(cmd)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same_samples(tmp_path, local_run, records=False)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ray", "nowhere"], "--ray takes auto, local or HOST:PORT"),
        (["--ray-workers", "2"], "--ray-workers goes with --ray"),
        (["--ray", "127.0.0.1:1", "--prompt-style", "chat"], "--ray does not support --prompt-style chat"),
    ],
)
def test_bad_ray_flags_are_one_line_errors(tmp_path, tiny_model, flags, message):
    done = _run(_eval_cmd(tmp_path / "out", tiny_model, *flags, "--generation-only"))
    assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


class _FakeRay:
    def __init__(self) -> None:
        self.addresses: list = []

    def is_initialized(self) -> bool:
        return False

    def init(self, address=None, **kwargs) -> None:
        self.addresses.append(address)


@pytest.mark.parametrize("address", ["local", "auto"])
def test_local_starts_a_cluster_and_auto_joins_one(address):
    # None would make ray.init join whatever /tmp/ray/ray_current_cluster names, even a dead head
    from uscd.run.ray_engine import _connect

    fake = _FakeRay()
    _connect(fake, address)
    assert fake.addresses == [address]
