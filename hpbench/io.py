"""Atomic writes: a file appears at its final path complete, or not at all.

Everything hpbench writes (prepared files, reports, checkpoints, caches, box files, records) goes
through ``NAME.<pid>-<random>.partial`` in the same folder: written, flushed to disk (fsync) and
renamed, so an interrupted run never leaves a half-written file under the final name, and two
writers never share one partial file (which of them wins the rename is what hpbench.locks settles).
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """A partial file of ``path`` that no other writer uses."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}")


def publish(partial: str | Path, path: str | Path) -> None:
    """fsync ``partial`` and rename it to ``path`` (atomic on one file system)."""
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields the partial path to write; on leaving the block it becomes ``path`` (removed on an error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        yield partial
        publish(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as partial:
        partial.write_text(text)
    return Path(path)


def write_bytes_atomic(path: str | Path, content: bytes) -> Path:
    with atomic_path(path) as partial:
        partial.write_bytes(content)
    return Path(path)
