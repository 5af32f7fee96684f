"""``hpbench protocols list | show NAME [--data DIR] | keys NAME --data DIR --out FILE``."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from hpbench.errors import HpbenchError
from hpbench.io import atomic_path
from hpbench.protocols import list_protocols, load_protocol, require_samples, select
from hpbench.tasks import TASKS


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
            rows.append((split, entry.dataset, rule, entry.boxes or "—", entry.reference or "—",
                         entry.labels or "its own"))
    print(tabulate(rows, headers=("split", "dataset", "selection", "boxes", "fallback", "labels")))
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


def keys(name: str, data: str, out: str) -> int:
    """``hpbench protocols keys``: every test sample of the protocol (dataset, key and what the task hands
    out) as one CSV, the rows a predictions file for ``hpbench score`` must have."""
    protocol = load_protocol(name)
    task = TASKS.get(protocol.task)
    selections = require_samples(select(protocol, protocol.test_split, data), protocol, protocol.test_split)
    rows = [{"dataset": s.dataset, **row} for s in selections for row in task.handed_out(s, protocol)]
    with atomic_path(out) as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    counts = ", ".join(f"{s.dataset} {len(s.indices):,}" for s in selections)
    print(f"wrote {out}: the {protocol.test_split} samples of {protocol.name} v{protocol.version} ({counts})")
    return 0
