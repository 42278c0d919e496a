"""sha256 of files and folders: one home for the digests that name a run's inputs, a teacher's
weights and a stage's outputs. (``export/runtime.py`` keeps its own copy: it is shipped alone.)"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """sha256 of one file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order)."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
    for f in files:
        if f is not p:
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 22):
                h.update(block)
    return h.hexdigest()
