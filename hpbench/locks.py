"""One writer per output: a lock file taken before the work starts, refused at once when held.

``output_lock(path)`` creates ``path`` + ``.lock`` with ``O_CREAT | O_EXCL`` (atomic on local and
network file systems alike, unlike HDF5's own locking, which is often off on the latter), holding
who took it: process id, host, command and time. A second run that wants the same output stops with
one line naming the holder. A lock whose holder died on this host (its process is gone) is stale:
it is taken over, with a message. The lock is removed when the block ends, however it ends, with
the folders made for it that stayed empty.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hpbench.errors import HpbenchError
from hpbench.provenance import utc_now

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"


def lock_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + LOCK_SUFFIX)


def _holder_alive(holder: dict) -> bool:
    """Whether the lock's holder may still run: another host's, or a live process of this one."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _read_holder(lock: Path) -> dict:
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    if not holder:
        return "a run that left no details"
    command = str(holder.get("command", ""))[:120]
    return f"process {holder.get('pid')} on {holder.get('host')} since {holder.get('started')} ({command})"


@contextmanager
def output_lock(path: str | Path) -> Iterator[Path]:
    """Hold the lock of ``path`` (a file or a folder to be written) for the block."""
    lock = lock_path(path)
    existing = next(folder for folder in (lock.parent, *lock.parent.parents) if folder.exists() or folder == folder.parent)
    if not existing.is_dir():
        raise HpbenchError(f"{path}: {existing} is a file, not a folder; choose another output")
    created = [folder for folder in (lock.parent, *lock.parent.parents) if not folder.exists()]
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": utc_now(),
              "command": " ".join(["hpbench", *sys.argv[1:]])}
    for attempt in range(2):
        try:
            descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            other = _read_holder(lock)
            if attempt == 0 and other and not _holder_alive(other):
                logger.info(f"{lock}: taken over from {_describe(other)}, which has ended")
                lock.unlink(missing_ok=True)
                continue
            raise HpbenchError(f"{path} is being written by another run: {_describe(other)}. Wait for it to end, "
                               f"choose another output, or delete {lock} if that run is gone") from None
        break
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(holder) + "\n")
    try:
        yield lock
    finally:
        if _read_holder(lock).get("pid") == os.getpid():
            lock.unlink(missing_ok=True)
        for folder in created:  # folders made for the lock alone go with it (a refused run leaves nothing)
            try:
                folder.rmdir()
            except OSError:
                break
