"""File digests: one place for hashing the files runs record (models, datasets)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK_READ = 8 << 20


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK_READ):
            h.update(block)
    return h.hexdigest()
