"""``hpbench prepare DATASET --src RAW``: convert, then print the report's summary."""

from __future__ import annotations

from pathlib import Path

from hpbench.converters.prepare import prepare


def run(dataset: str, src: str | Path, out: str | Path, workers: int, skip_bad: bool,
                       overwrite: bool, **options) -> int:
    """``hpbench prepare``: convert, then print the report's summary."""
    given = {name: value for name, value in options.items() if value not in (None, False)}
    print(prepare(dataset, src, out, workers=workers, skip_bad=skip_bad, overwrite=overwrite, **given).summary())
    return 0
