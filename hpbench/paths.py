"""Paths and names that come from files, confined: paths named inside a dataset's own files
(annotation lists, databases, box files) stay inside their root, and names that become parts of
output file names (a protocol's, a recipe's, a model's architecture) are one safe word.

Such a path is data, not an instruction: an absolute path or one that climbs out with ``..`` could
make hpbench read, link or overwrite files anywhere. They are refused, lexically, before any file
is touched. Symbolic links the user made inside the dataset folder are the user's choice and are
followed.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from hpbench.errors import HpbenchError


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


# Names read from files (a protocol's, a recipe's, an architecture a model file records) become parts
# of output file names: each must be one safe word, checked where it is read.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]{0,119}")
SAFE_NAME_RULE = "one word of letters, digits and . _ + = - (at most 120, starting with a letter or digit, no '..')"


def name_problem(value) -> str | None:
    """Why ``value`` may not be part of a file name, or None when it may."""
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not a string"
    if not SAFE_NAME.fullmatch(value) or ".." in value:
        return f"not {SAFE_NAME_RULE}"
    return None


def checked_name(value, where: str) -> str:
    """``value`` when it is a safe name; otherwise an error naming ``where`` it was read (file and key)."""
    problem = name_problem(value)
    if problem:
        raise HpbenchError(f"{where}: {str(value)[:80]!r} is {problem}; it becomes part of a file name")
    return value


def safe_word(text: str) -> str:
    """A name of the user's own (a file's stem) made one safe word: other characters become '_'."""
    word = re.sub(r"[^A-Za-z0-9_.+=-]", "_", text).lstrip("._+=-").replace("..", "_")[:120]
    return word or "unnamed"


def output_path(root: str | Path, *names: str) -> Path:
    """``root`` joined with ``names``, each a safe name: the path cannot leave ``root``."""
    for name in names:
        problem = name_problem(name)
        if problem:
            raise HpbenchError(f"{str(name)[:80]!r} cannot name a file under {root}: it is {problem}")
    return Path(root).joinpath(*names)
