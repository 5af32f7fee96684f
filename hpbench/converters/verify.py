"""``hpbench verify``: the format validator plus the dataset's published counts."""

from __future__ import annotations

from pathlib import Path

from hpbench.converters import CONVERTERS
from hpbench.format import HPFile, Validation, validate


def verify_file(path: str | Path) -> Validation:
    """Validate ``path``; compare its counts with the published ones (warnings, never failures)."""
    report = validate(path)
    if not report.ok:
        return report
    data = HPFile(path)
    if data.layout.dataset not in CONVERTERS:
        return report
    for published in CONVERTERS.get(data.layout.dataset).published:
        found = published.count(data)
        note = f" ({published.note})" if published.note else ""
        report.add(
            f"{published.what} vs published",
            [] if found == published.value else [f"{found:,} in the file, {published.value:,} published{note}"],
            f"{found:,} = {published.value:,}",
            warn=True,
        )
    data.close()
    return report
