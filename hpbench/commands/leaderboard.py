"""``hpbench leaderboard build [--check]``."""

from __future__ import annotations

from pathlib import Path

from hpbench.leaderboard.build import build, check


def run(folder: str | Path | None = None, check_only: bool = False) -> int:
    """Rebuild the files, or report how the committed ones differ (exit 1)."""
    folder = Path(folder) if folder else None
    if check_only:
        problems = check(folder)
        for problem in problems:
            print(problem)
        print("leaderboards differ from a rebuild: run hpbench leaderboard build" if problems
              else "leaderboards are up to date")
        return 1 if problems else 0
    for path in build(folder):
        print(f"wrote {path}")
    return 0
