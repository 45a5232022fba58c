"""`uscd eval --ray`: the generation stage's requests sharded across Ray actors, each owning one
backend (llama.cpp with its thread count, or one GPU for hf).

``RayEngine`` stands where the local ``Engine`` stands in the runner: ``generate(requests, batch)``
yields ``(index, Generation | UscdError)`` as shards finish, and the runner writes each sample into
the same run folder, the same way, as a local run (so ``config_hash`` and resuming are unchanged:
a re-run after a killed driver sends only the samples the folder lacks). A shard is one request
(one problem x method x sample), or ``--batch N`` of them that one actor decodes together; every
sample carries its own seed, so which actor decodes it does not change it. A shard whose actor
dies is sent again (Ray restarts the actor); a sample is written only when its result arrives, so
nothing is lost or written twice.

Before any shard is sent, every actor loads the model and reports it: an unreachable cluster, a
worker that cannot load the model, or workers that disagree on the model or backend (another file
hash, another library version) is a one-line error.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from uscd.errors import UscdError

# shards in flight per actor: one decoding, one waiting, so an actor never idles on the round trip
IN_FLIGHT = 2
# a shard whose actor died this many times is not sent again (the model kills its workers: OOM?)
MAX_ATTEMPTS = 4
PREFLIGHT_TIMEOUT_S = 600.0
CONNECT_TIMEOUT_S = 5.0


def _ray():
    try:
        import ray
    except ModuleNotFoundError:
        raise UscdError("--ray needs ray: pip install 'uscd[ray]'") from None
    return ray


@dataclass(frozen=True)
class RaySettings:
    address: str = "auto"  # "auto" (the running cluster), "local" (start one here), or HOST:PORT
    workers: int | None = None  # actors; default: the cluster's CPUs (GPUs for hf on cuda) per actor
    threads: int = 1  # CPU threads (and Ray CPUs) per actor


class _Worker:
    """One actor's backend (the class is made a Ray actor in ``RayEngine``)."""

    def __init__(self, model: str | None, backend: str, n_ctx: int, threads: int, dtype: str | None) -> None:
        from uscd.engine import open_engine

        self.error = None
        try:
            self.engine = open_engine(model, backend=backend, n_ctx=n_ctx, n_threads=threads, dtype=dtype)
        except UscdError as exc:  # reported by info(), before any shard is sent
            self.error = f"{type(exc).__name__}: {exc}"

    def info(self) -> dict:
        if self.error:
            return {"error": self.error, "pid": os.getpid()}
        from uscd.models import describe

        backend = self.engine.backend
        return {
            "model": describe(backend.path),
            "backend": backend.describe(),
            "vocab_size": backend.vocab_size,
            "name": backend.name,
            "path": str(backend.path),
            "pid": os.getpid(),
        }

    def resolve_batch(self, batch) -> int:
        return self.engine.batch_size(batch)

    def generate(self, requests: list, batch: int) -> list:
        """The results of a shard's requests, in order."""
        return [result for _, result in sorted(self.engine.generate(requests, batch), key=lambda r: r[0])]


@dataclass
class RemoteBackend:
    """What the runner reads off a backend, as the actors reported it."""

    name: str
    path: str
    vocab_size: int


class RayEngine:
    """Generates requests on Ray actors (see the module docstring)."""

    def __init__(self, model_settings, ray_settings: RaySettings) -> None:
        ray = _ray()
        self.ray = ray
        self.settings = ray_settings
        _connect(ray, ray_settings.address)
        n = ray_settings.workers or _default_workers(ray, model_settings, ray_settings)
        options = {"num_cpus": ray_settings.threads, "max_restarts": MAX_ATTEMPTS, "max_task_retries": 0}
        if model_settings.backend == "hf" and ray.cluster_resources().get("GPU", 0) > 0:
            options["num_gpus"] = 1
        actor = ray.remote(**options)(_Worker)
        m = model_settings
        args = (m.name, m.backend, m.n_ctx, ray_settings.threads, m.dtype)
        self.actors = [actor.remote(*args) for _ in range(n)]
        self.infos = self._preflight()
        first = self.infos[0]
        self.model_info, self.backend_info = first["model"], first["backend"]
        self.backend = RemoteBackend(first["name"], first["path"], first["vocab_size"])

    def _preflight(self) -> list[dict]:
        ray = self.ray
        try:
            infos = ray.get([a.info.remote() for a in self.actors], timeout=PREFLIGHT_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise UscdError(
                f"the Ray workers did not load the model within {PREFLIGHT_TIMEOUT_S:.0f} s"
            ) from None
        except ray.exceptions.RayError as exc:
            raise UscdError(f"a Ray worker failed to start: {_first_line(exc)}") from None
        for info in infos:
            if "error" in info:
                raise UscdError(f"a Ray worker (pid {info['pid']}) cannot load the model: {info['error']}")
        _check_same(infos)
        return infos

    def batch_size(self, batch) -> int:
        return int(self.ray.get(self.actors[0].resolve_batch.remote(batch)))

    def worker_pids(self) -> list[int]:
        return [info["pid"] for info in self.infos]

    def generate(self, requests, batch: int = 1) -> Iterator[tuple[int, object]]:
        """Yield (request index, Generation | UscdError) as the shards finish; a shard is `batch`
        requests (one, by default), decoded together by one actor."""
        indexed = list(enumerate(requests))
        queue = deque(indexed[i : i + batch] for i in range(0, len(indexed), batch))
        attempts: dict[int, int] = {}
        running: dict = {}  # object ref -> (actor, shard)
        while queue or running:
            self._submit(queue, running, batch)
            done, _ = self.ray.wait(list(running), num_returns=1)
            for ref in done:
                _, shard = running.pop(ref)
                try:
                    results = self.ray.get(ref)
                except self.ray.exceptions.RayActorError as exc:
                    first = shard[0][0]
                    attempts[first] = attempts.get(first, 0) + 1
                    if attempts[first] >= MAX_ATTEMPTS:
                        raise UscdError(
                            f"a shard's Ray worker died {MAX_ATTEMPTS} times: {_first_line(exc)}"
                        ) from None
                    queue.appendleft(shard)  # its actor died: redo the shard
                    continue
                except self.ray.exceptions.RayTaskError as exc:
                    raise UscdError(f"a Ray worker failed on a shard: {_first_line(exc)}") from None
                for (index, _), result in zip(shard, results, strict=True):
                    yield index, result

    def _submit(self, queue: deque, running: dict, batch: int) -> None:
        load = {id(a): 0 for a in self.actors}
        for actor, _ in running.values():
            load[id(actor)] += 1
        for actor in self.actors:
            while queue and load[id(actor)] < IN_FLIGHT:
                shard = queue.popleft()
                running[actor.generate.remote([r for _, r in shard], batch)] = (actor, shard)
                load[id(actor)] += 1

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


def _connect(ray, address: str) -> None:
    """Join the cluster at `address` ("auto": the one RAY_ADDRESS or a local head names; "local":
    start one on this machine)."""
    if ray.is_initialized():
        return
    if address not in ("auto", "local") and not address.startswith("ray://"):
        _check_reachable(address)  # ray.init retries an unreachable address for minutes
    try:
        ray.init(
            # "local" (not None): None would join whatever /tmp/ray/ray_current_cluster names, even a
            # head that died with an earlier session, and hang there instead of starting one
            address=address,
            logging_level="ERROR",
            log_to_driver=False,
            include_dashboard=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UscdError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)}") from None


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UscdError(f"--ray takes auto, local or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise UscdError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _default_workers(ray, model_settings, ray_settings: RaySettings) -> int:
    resources = ray.cluster_resources()
    if model_settings.backend == "hf" and resources.get("GPU", 0) > 0:
        return int(resources["GPU"])
    return max(1, int(resources.get("CPU", 1)) // ray_settings.threads)


def _check_same(infos: list[dict]) -> None:
    """Every worker must decode with the same model file and backend (a run has one config)."""

    def identity(info: dict) -> tuple:
        backend = {k: v for k, v in info["backend"].items() if k != "n_threads"}
        return info["model"]["sha256"], sorted(backend.items())

    first = identity(infos[0])
    for info in infos[1:]:
        if identity(info) != first:
            raise UscdError(
                f"Ray workers disagree on the model or backend (pid {infos[0]['pid']}: "
                f"{infos[0]['model']['name']} {infos[0]['backend']}; pid {info['pid']}: "
                f"{info['model']['name']} {info['backend']})"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
