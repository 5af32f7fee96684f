"""``hpbench verify``: the format validator plus the dataset's published counts."""

from __future__ import annotations

from pathlib import Path

from hpbench.datasets import CONVERTERS
from hpbench.errors import HpbenchError
from hpbench.format import HPFile, Validation, open_h5, validate


def verify_file(path: str | Path) -> Validation:
    """Validate ``path``; compare its counts with the published ones (warnings, never failures)."""
    try:
        with open_h5(path) as handle:
            dataset = str(handle.attrs.get("dataset", ""))
    except HpbenchError:
        dataset = ""  # validate() reports why the file cannot be opened
    report = validate(path)
    if not report.ok or dataset not in CONVERTERS:
        return report
    data = HPFile(path)
    for published in CONVERTERS.get(dataset).published:
        found = published.count(data)
        note = f" ({published.note})" if published.note else ""
        report.add(
            f"{published.what} vs published",
            [] if found == published.value else [f"{found:,} in the file, {published.value:,} published{note}"],
            f"{found:,} = {published.value:,}",
            warn=True,
        )
    return report
