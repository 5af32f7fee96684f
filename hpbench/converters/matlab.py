"""MATLAB v5 annotation files (3DDFA's per-image .mat, LSP's joints.mat, MPII's RELEASE), read so
that every way a file can be broken is an error naming it, and a file that crashes scipy's parser
outright costs one item, not the run."""

from __future__ import annotations

import zlib
from functools import partial
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from hpbench.errors import BadSourceFile
from hpbench.parallel import ordered_map


def load_mat(path: Path, names: list[str], **options) -> dict[str, np.ndarray]:
    """The variables of a MATLAB v5 file, which must include ``names`` (``options`` go to loadmat).

    The whole file is read, not only ``names``: skipping variables would hide a truncated file.
    Every way it can be unreadable becomes BadSourceFile. A file that crashes scipy's parser
    outright is survived by the caller (prepare reads in worker processes; see load_mat_isolated).
    """
    if not path.is_file():
        raise BadSourceFile(path, "is missing (every image needs its .mat annotation beside it)")
    try:
        content = scipy.io.loadmat(path, **options)
    except (ValueError, TypeError, OSError, EOFError, IndexError, KeyError, AttributeError, zlib.error,
            NotImplementedError, MatReadError, UnicodeDecodeError, MemoryError) as err:
        what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise BadSourceFile(path, f"cannot be read as a MATLAB v5 file (truncated or corrupt?): {what}") from None
    missing = [name for name in names if name not in content]
    if missing:
        found = sorted(name for name in content if not name.startswith("__"))
        raise BadSourceFile(path, f"has no {', '.join(repr(m) for m in missing)} variable (found: {', '.join(found) or 'none'})")
    return content


def load_mat_isolated(path: Path, names: list[str], **options) -> dict:
    """``load_mat`` in a child process, for an annotation file read in the main process (LSP's
    joints.mat, MPII's RELEASE): a file that crashes scipy's parser becomes an error naming it."""
    crashed = BadSourceFile(path, "crashes scipy's MATLAB reader (a corrupt file); restore it from the release")
    result = next(ordered_map(partial(load_mat, names=names, **options), [path], on_crash=lambda _: crashed))
    if isinstance(result, BadSourceFile):
        raise result
    return result
