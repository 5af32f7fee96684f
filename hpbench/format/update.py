"""Changing a prepared file: adding (or replacing) one box source (e.g. detector boxes) or one label
source (another set of pose labels for the same samples, e.g. a peer's calibrated ones).

The layout attribute, the per-key digest of the new keys and the content digest follow, so the file
stays valid: ``hpbench verify`` after ``hpbench bboxes relabel`` passes. The change is atomic: it is
made on a copy (a partial file, hpbench.io) that replaces the file only when complete, so an interrupted or
refused change leaves the file as it was. A box source the converter wrote (the dataset's own box)
is replaced only with ``replace=True``; names are checked before anything is touched.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np

from hpbench.format.digest import column, combine_digest, field_digest
from hpbench.format.layout import FormatError, Layout, box_status_keys, label_key, rejected_box_key
from hpbench.format.validate import bad_boxes, bad_label_rows
from hpbench.format.writer import create_key
from hpbench.io import atomic_path, write_text_atomic
from hpbench.locks import output_lock
from hpbench.provenance import utc_now

SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
STATUS_SUFFIXES = ("_status", "_score", "_iou", "_rejected")


def check_source_name(source: str) -> None:
    """A box source name is one lowercase word, not ending like the keys of another source's status."""
    if not SOURCE_NAME.match(source or "") or source.endswith(STATUS_SUFFIXES):
        raise FormatError(f"box source name {source!r}: use one lowercase word of letters, digits, '_' or '-' "
                          f"(at most 40, starting with a letter, not ending in {', '.join(STATUS_SUFFIXES)}); "
                          "choose another --name")


def add_box_source(path: str | Path, source: str, boxes, status=None, score=None, iou=None,
                   attrs: dict | None = None, replace: bool = False, rejected=None) -> str:
    """Add (or replace) ``bbox/<source>`` with optional per-sample ``status`` / ``score`` / ``iou`` and
    ``rejected`` (with a status: the detection a fallback turned down, NaN rows elsewhere); returns the
    new content digest. ``replace`` allows overwriting a box the converter wrote."""
    check_source_name(source)
    quality = (status, score, iou, rejected)
    return _change(path, "added box source", source, lambda h5: _add(h5, path, source, boxes, quality, attrs, replace))


def add_label_source(path: str | Path, name: str, ypr, attrs: dict | None = None, replace: bool = False) -> str:
    """Add ``labels/<name>``: other (yaw, pitch, roll) labels of the same samples in hpbench's
    convention, NaN rows where the source gives none (e.g. a peer's calibrated labels); returns the
    new content digest. ``replace`` allows overwriting labels of that name."""
    check_source_name(name)
    return _change(path, "added label source", name, lambda h5: _add_labels(h5, path, name, ypr, attrs, replace))


def _change(path: str | Path, what: str, name: str, change) -> str:
    """Run ``change`` (open h5 copy → new content digest) on a copy that replaces the file when complete."""
    with output_lock(path), atomic_path(path) as partial:  # one change at a time: none is lost
        try:
            shutil.copyfile(path, partial)
            handle = h5py.File(partial, "r+")
        except OSError as err:
            raise FormatError(f"{path}: cannot be copied for the change ({err})") from None
        with handle as h5:
            digest = change(h5)
    _note_in_report(Path(path), what, name, digest)
    return digest


def _note_in_report(path: Path, what: str, source: str, digest: str) -> None:
    """Keep the prepare report beside the file (``DATASET.prepare.json``) true: its content digest is
    the file's new one, and ``changes`` lists the box and label sources added since."""
    report = path.with_suffix(".prepare.json")
    try:
        content = json.loads(report.read_text())
    except (OSError, ValueError):
        return  # no report (a file prepared elsewhere) or one that is not JSON: nothing to keep true
    if not isinstance(content, dict):
        return
    content.setdefault("changes", []).append({what: source, "content_sha256": digest,
                                              "date": utc_now()})
    content["content_sha256"] = digest
    write_text_atomic(report, json.dumps(content, indent=2) + "\n")


def _add(h5: h5py.File, path, source, boxes, quality, attrs, replace: bool) -> str:
    """The change itself, on the open copy; returns the new content digest."""
    status, score, iou, rejected = quality
    layout = Layout.from_json(h5.attrs["layout"])
    if source in layout.box_sources and not h5[f"bbox/{source}"].attrs.get("added") and not replace:
        raise FormatError(f"{path}: bbox/{source} is the dataset's own box, written by the converter; choose "
                          "another --name, or pass --replace to overwrite it")
    count = int(h5.attrs["count"])
    heights, widths = h5["image/height"][()], h5["image/width"][()]
    for name, rows in ((f"bbox/{source}", boxes), (rejected_box_key(source), rejected)):
        if rows is not None:  # the value rules every converter's boxes pass, before anything is written
            rows = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
            bad, reasons = bad_boxes(rows, heights, widths) if len(rows) == count else (None, [])
            if reasons:
                first = int(np.argmax(bad))
                raise FormatError(f"{path}: the new {name} breaks the box rules in {int(bad.sum())} rows "
                                  f"({'; '.join(reasons)}; first: row {first}, {rows[first].tolist()}); nothing "
                                  "was changed")
    sources = layout.box_sources + (() if source in layout.box_sources else (source,))
    with_status = tuple(s for s in layout.box_status if s != source) + ((source,) if status is not None else ())
    with_rejected = tuple(s for s in layout.box_rejected if s != source) + (
        (source,) if status is not None and rejected is not None else ())
    new_layout = dataclasses.replace(layout, box_sources=sources, box_status=with_status, box_rejected=with_rejected)
    values = {f"bbox/{source}": boxes}
    if status is not None:
        values.update(zip(box_status_keys(source), (status, score, iou)))
        if rejected is not None:
            values[rejected_box_key(source)] = rejected
    return _write(h5, path, layout, new_layout, values, (f"bbox/{source}", *box_status_keys(source),
                                                         rejected_box_key(source)),
                  {f"bbox/{source}": {"source": source, "added": True, **(attrs or {})}})


def _add_labels(h5: h5py.File, path, name, ypr, attrs, replace: bool) -> str:
    layout = Layout.from_json(h5.attrs["layout"])
    if layout.task != "headpose":
        raise FormatError(f"{path}: a {layout.task} file holds no head poses to add labels beside")
    if name in layout.label_sources and not replace:
        raise FormatError(f"{path}: {label_key(name)} exists; pass --replace to overwrite it, or choose another --name")
    rows = np.asarray(ypr, dtype=np.float64).reshape(-1, 3)
    if bad_label_rows(rows):
        raise FormatError(f"{path}: the new {label_key(name)} has rows that are neither three finite angles nor all "
                          "NaN (no label); nothing was changed")
    sources = layout.label_sources + (() if name in layout.label_sources else (name,))
    new_layout = dataclasses.replace(layout, label_sources=sources)
    return _write(h5, path, layout, new_layout, {label_key(name): rows}, (label_key(name),),
                  {label_key(name): {"source": name, "added": True, **(attrs or {})}})


def _write(h5: h5py.File, path, layout: Layout, new_layout: Layout, values: dict, replaced: tuple[str, ...],
           attrs: dict[str, dict]) -> str:
    """Write ``values`` (key → rows) under ``new_layout``, after deleting the ``replaced`` keys; the
    per-key digests, ``attrs`` per key and the new content digest follow."""
    unhashed = [name for name in layout.fields() if name not in h5 or "sha256" not in h5[name].attrs]
    if unhashed:
        raise FormatError(f"{path}: keys without a recorded sha256 ({', '.join(unhashed[:3])}); "
                          "is it an hpbench file? (hpbench verify says more)")
    count = int(h5.attrs["count"])
    fields = new_layout.fields()
    for name in replaced:
        if name in h5:
            del h5[name]
    for name, rows in values.items():
        spec = fields[name]
        rows = column(spec, list(rows))
        if len(rows) != count:
            raise ValueError(f"{name}: {len(rows)} rows for {count} samples")
        create_key(h5, spec, count)[:] = rows
        h5[name].attrs["sha256"] = field_digest(spec, rows)
    for name, values_ in attrs.items():
        h5[name].attrs.update(values_)
    digest = combine_digest(new_layout, count, {name: h5[name].attrs["sha256"] for name in fields})
    h5.attrs.update({"layout": new_layout.to_json(), "content_sha256": digest})
    return digest
