"""Where the project's data folders (protocols/, baselines/, leaderboards/) are found.

In a source checkout they sit beside the package; an installed wheel carries copies under
``hpbench/_bundled/`` (pyproject's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    return _PACKAGE / "_bundled" / name
