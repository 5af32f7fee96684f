"""``hpbench verify FILE…``: each file's checks as a table."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from hpbench.converters.verify import verify_file


def run(files: list[Path]) -> int:
    """Print each file's checks; exit status 1 when any file fails."""
    failed = False
    for path in files:
        report = verify_file(path)
        rows = [(check.name, check.status.upper(), check.message) for check in report.checks]
        print(f"{path}:")
        print(tabulate(rows, headers=("check", "status", "detail"), tablefmt="simple", maxcolwidths=[None, None, 90]))
        failed |= not report.ok
    return 1 if failed else 0
