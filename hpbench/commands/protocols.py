"""``hpbench protocols list | show NAME [--data DIR]``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from hpbench.errors import HpbenchError
from hpbench.protocols import list_protocols, load_protocol, select


def list_all() -> int:
    rows = [(p.name, f"v{p.version}", p.origin, p.title) for p in list_protocols()]
    print(tabulate(rows, headers=("protocol", "version", "origin", "title")))
    return 0


def show(name: str, data: str | Path | None = None) -> int:
    """The rules of one protocol; with ``data``, the counts of every split and filter step."""
    protocol = load_protocol(name)
    print(f"{protocol.name} v{protocol.version} ({protocol.origin}): {protocol.title}")
    print(f"source: {protocol.source}")
    limit = f"every present angle within ±{protocol.filter_limit:g}° (inclusive)" if protocol.filter_limit else "none"
    print(f"filter: {limit}; crop: {protocol.crop}; input size: {protocol.input_size}; "
          f"metrics: {', '.join(protocol.metrics)}; a test sample without a detected face: {protocol.missing_face}")
    if protocol.notes:
        print(f"notes: {protocol.notes}")
    for change in protocol.changelog:
        print(f"  v{change.get('version')} ({change.get('date')}): {change.get('change')}")
    rows = []
    for split, entries in protocol.splits.items():
        for entry in entries:
            rule = ", ".join(f"{k}={v}" for k, v in entry.select.items())
            rows.append((split, entry.dataset, rule, entry.boxes or "—", entry.reference or "—"))
    print(tabulate(rows, headers=("split", "dataset", "selection", "boxes", "fallback")))
    if data:
        rows = []
        for split, entries in protocol.splits.items():
            for entry in entries:
                published = protocol.published_counts.get(split, {}).get(entry.dataset)
                published = f"{published:,}" if published is not None else "—"
                try:
                    (selection,) = select(replace(protocol, splits={split: (entry,)}), split, data)
                except HpbenchError as err:  # a file not prepared (yet): say so, show the others
                    rows.append((split, entry.dataset, f"not available: {err}", published, "—"))
                    continue
                counts = " → ".join(f"{name} {value:,}" for name, value in selection.counts.items())
                rows.append((split, selection.dataset, counts, published, selection.keys_sha256[:16]))
        print()
        print(tabulate(rows, headers=("split", "dataset", "counts", "published", "keys sha256")))
    return 0
