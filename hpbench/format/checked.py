"""Prepared files are checked before ``train`` and ``evaluate`` use them, and remembered when they pass.

The full check (``validate``) reads every byte. A file that passed is remembered in
``$HPBENCH_CACHE/verified.json`` by its stamp: device, inode, size, modification time and *change*
time (``st_ctime``, which every write and every ``touch`` sets to now, and which no user can set
back) with its content digest. Each entry is signed (HMAC-SHA256) with a key that only this cache
holds (``verified.key``, created 0600), so an entry written or edited by hand, or copied from another
machine, is not believed: the file is checked again. ``check_unchanged`` confirms after use that the
file still has the stamp it was checked at, so a change while a run reads it voids the run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from hpbench.format.layout import FormatError
from hpbench.format.reader import open_h5
from hpbench.format.validate import validate
from hpbench.io import write_text_atomic
from hpbench.resources import cache_dir

_checked: dict[str, list] = {}  # this process: resolved path → the stamp and digest it was checked at


def _stamp(path: Path) -> list:
    stat = path.stat()
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _key() -> bytes | None:
    """The cache's signing key, created on first use; None where the cache cannot hold one."""
    path = cache_dir() / "verified.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a damaged key: the entries it signed are not believed either
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _signature(key: bytes, path: str, entry: list) -> str:
    return hmac.new(key, json.dumps([path, entry]).encode(), hashlib.sha256).hexdigest()


def _remembered(key: bytes | None) -> dict[str, list]:
    """The signed entries of verified.json whose signature holds (others are dropped)."""
    try:
        content = json.loads((cache_dir() / "verified.json").read_text())
    except (OSError, ValueError):
        return {}
    if key is None or not isinstance(content, dict):
        return {}
    return {path: value["entry"] for path, value in content.items()
            if isinstance(value, dict) and isinstance(value.get("entry"), list)
            and hmac.compare_digest(str(value.get("hmac", "")), _signature(key, path, value["entry"]))}


def _remember(key: bytes | None, known: dict[str, list]) -> None:
    if key is None:
        return
    content = {path: {"entry": entry, "hmac": _signature(key, path, entry)} for path, entry in known.items()
               if Path(path).is_file()}
    try:
        write_text_atomic(cache_dir() / "verified.json", json.dumps(content, indent=1) + "\n")
    except OSError:
        pass  # a read-only cache only costs the check again next time


def check_before_use(path: str | Path) -> str:
    """Refuse a prepared file that fails ``validate`` before it is trained or scored on; returns its
    content digest. A file remembered with its current stamp costs one ``stat`` (module docstring)."""
    path = Path(path).resolve()
    stamp = _stamp(path)
    with open_h5(path) as handle:  # refuses, every time, a file that reads values from outside itself
        digest = str(handle.attrs.get("content_sha256", ""))
    entry, key = stamp + [digest], _key()
    known = _remembered(key)
    if known.get(str(path)) != entry:
        report = validate(path)
        if not report.ok:
            failed = "; ".join(f"{c.name}: {c.message}" for c in report.checks if c.status == "fail")
            raise FormatError(f"{path}: fails hpbench's checks ({failed[:300]}); it was changed or damaged after "
                              f"prepare. `hpbench verify {path}` gives the full report; prepare it again")
        if _stamp(path) != stamp:
            raise FormatError(f"{path}: changed while it was being checked; run again when nothing writes to it")
        known[str(path)] = entry
        _remember(key, known)
    _checked[str(path)] = entry
    return digest


def check_unchanged(path: str | Path) -> None:
    """After a run has read ``path``: it still has the stamp ``check_before_use`` accepted, or the
    run's numbers are void (an error)."""
    path = Path(path).resolve()
    entry = _checked.get(str(path))
    if entry is not None and (not path.is_file() or _stamp(path) != entry[:-1]):
        raise FormatError(f"{path}: changed while hpbench was reading it, so what was read is not what was "
                          "checked; nothing is recorded. Run again when nothing writes to it")
