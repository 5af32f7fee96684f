"""Paths named inside a dataset's own files (annotation lists, databases, box files), confined to
their root.

Such a path is data, not an instruction: an absolute path or one that climbs out with ``..`` could
make hpbench read, link or overwrite files anywhere. They are refused, lexically, before any file
is touched. Symbolic links the user made inside the dataset folder are the user's choice and are
followed.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath


def path_problem(text: str) -> str | None:
    """Why ``text`` may not name a file inside a dataset folder, or None when it may."""
    if not text or "\0" in text:
        return "an empty path or one with a NUL byte"
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive:
        return "an absolute path"
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        return "a path that climbs out with '..'"
    return None


def leaves_root(text: str, root: str | Path) -> str | None:
    """The refusal message for a path that leaves ``root``, or None when it stays inside."""
    problem = path_problem(text)
    return f"entry {text!r} leaves {root} ({problem}; hpbench only reads inside the dataset folder)" if problem else None
