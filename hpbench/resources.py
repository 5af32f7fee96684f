"""Where the project's data folders (protocols/, baselines/, leaderboards/) and its cache are found.

In a source checkout they sit beside the package; an installed wheel carries copies under
``hpbench/_bundled/`` (pyproject's force-include).
"""

from __future__ import annotations

import os
from pathlib import Path

from hpbench.registry import names_registry

_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """hpbench's cache (detector settings, files already verified): ``$HPBENCH_CACHE`` or ~/.cache/hpbench."""
    return Path(os.environ.get("HPBENCH_CACHE", Path.home() / ".cache" / "hpbench"))


def bundled_dir(name: str) -> Path:
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    return _PACKAGE / "_bundled" / name


def bundled_yaml(folder: str, name_or_path: str | Path, kind: str, by_name: bool = False) -> Path:
    """A YAML file given by path, or by name from a bundled folder ("did you mean" for an unknown name);
    ``by_name``: a bundled one only (the name comes from a file, not from the user)."""
    path = Path(name_or_path)
    if not by_name and path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    path = bundled_dir(folder) / f"{name_or_path}.yaml"
    if not path.is_file():
        names_registry(kind, (p.stem for p in bundled_dir(folder).glob("*.yaml"))).get(str(name_or_path))
    return path
