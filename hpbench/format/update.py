"""Changing a prepared file in place: adding (or replacing) one box source, e.g. detector boxes.

The layout attribute, the per-key digest of the new keys and the content digest follow, so the file
stays valid: ``hpbench verify`` after ``hpbench bboxes relabel`` passes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py

from hpbench.format.digest import column, combine_digest, field_digest
from hpbench.format.layout import FormatError, Layout, box_status_keys
from hpbench.format.writer import create_key


def add_box_source(path: str | Path, source: str, boxes, status=None, score=None, iou=None,
                   attrs: dict | None = None) -> str:
    """Add (or replace) ``bbox/<source>`` with optional per-sample ``status`` / ``score`` / ``iou``;
    returns the new content digest."""
    try:
        handle = h5py.File(path, "r+")
    except OSError as err:
        raise FormatError(f"{path}: cannot be opened for writing ({err}); close it in other programs first") from None
    with handle as h5:
        layout = Layout.from_json(h5.attrs["layout"])
        count = int(h5.attrs["count"])
        unhashed = [name for name in layout.fields() if name not in h5 or "sha256" not in h5[name].attrs]
        if unhashed:
            raise FormatError(f"{path}: keys without a recorded sha256 ({', '.join(unhashed[:3])}); "
                              "is it an hpbench file? (hpbench verify says more)")
        sources = layout.box_sources + (() if source in layout.box_sources else (source,))
        with_status = tuple(s for s in layout.box_status if s != source) + ((source,) if status is not None else ())
        new_layout = dataclasses.replace(layout, box_sources=sources, box_status=with_status)
        values = {f"bbox/{source}": boxes}
        if status is not None:
            values.update(zip(box_status_keys(source), (status, score, iou)))
        fields = new_layout.fields()
        for name in (f"bbox/{source}", *box_status_keys(source)):
            if name in h5:
                del h5[name]
        for name, rows in values.items():
            spec = fields[name]
            rows = column(spec, list(rows))
            if len(rows) != count:
                raise ValueError(f"{name}: {len(rows)} rows for {count} samples")
            create_key(h5, spec, count)[:] = rows
            h5[name].attrs["sha256"] = field_digest(spec, rows)
        h5[f"bbox/{source}"].attrs.update({"source": source, **(attrs or {})})
        digest = combine_digest(new_layout, count, {name: h5[name].attrs["sha256"] for name in fields})
        h5.attrs.update({"layout": new_layout.to_json(), "content_sha256": digest})
    return digest
