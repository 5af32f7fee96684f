"""Box files: hpbench's CSV (``bboxes/<dataset>.<source>.csv``) and the KD repository's JSON.

CSV: ``#`` header lines (source, dataset, detector weights' sha256, hpbench version, counts per
status), then ``key,x1,y1,x2,y2,score,iou_ref,status`` per sample, x1 y1 x2 y2 in original-image
pixels. KD JSON (kd_oe_hpe ``data/*.json``): ``{"relative/path": [{"bbox": [x1, y1, x2, y2],
"type": "train"|"test", "faceid": int}]}``; AFLW's entries name their face, the others hold one box.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpbench import __version__
from hpbench.converters import get_converter
from hpbench.errors import HpbenchError
from hpbench.format import HPFile, add_box_source
from hpbench.format.update import check_source_name
from hpbench.io import atomic_path, write_text_atomic
from hpbench.jsonfiles import parse_json
from hpbench.paths import leaves_root
from hpbench.provenance import file_sha256

CSV_COLUMNS = ("key", "x1", "y1", "x2", "y2", "score", "iou_ref", "status")
UNTYPED = ""  # the type of a KD entry without one


def _number(value: float) -> str:
    return "" if value is None or np.isnan(value) else f"{value:.2f}"


def write_box_csv(path: str | Path, keys, boxes, status=None, score=None, iou=None, header: dict | None = None) -> Path:
    counts = Counter(status) if status is not None else {}
    with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
        for name, value in {**(header or {}), "hpbench_version": __version__,
                            "counts": " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "—"}.items():
            handle.write(f"# {name}: {value}\n")
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(CSV_COLUMNS)
        for i, key in enumerate(keys):
            out.writerow([key, *(_number(v) for v in boxes[i]),
                          _number(score[i]) if score is not None else "", _number(iou[i]) if iou is not None else "",
                          status[i] if status is not None else ""])
    return Path(path)


def read_box_csv(path: str | Path) -> tuple[dict, dict[str, tuple]]:
    """(header, key → (box (4,), score, iou, status)) of an hpbench box file."""
    header, rows = {}, {}
    path = Path(path)
    with open(path, newline="") as handle:
        lines = [line for line in handle]
    body = []
    for line in lines:
        if line.startswith("#"):
            name, _, value = line[1:].partition(":")
            header[name.strip()] = value.strip()
        else:
            body.append(line)
    reader = csv.DictReader(body)
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise HpbenchError(f"{path}: not an hpbench box file (columns {reader.fieldnames})")
    for row in reader:
        value = lambda name: float(row[name]) if row[name] else float("nan")  # noqa: E731
        rows[row["key"]] = (np.array([value("x1"), value("y1"), value("x2"), value("y2")]), value("score"),
                            value("iou_ref"), row["status"])
    return header, rows


@dataclass
class ImportReport:
    matched: int = 0
    samples_without_box: list[str] = field(default_factory=list)
    entries_without_sample: list[str] = field(default_factory=list)
    entries_outside: list[str] = field(default_factory=list)  # paths that leave the dataset folder: refused
    types: dict[str, int] = field(default_factory=dict)

    def summary(self, dataset: str, name: str) -> str:
        lines = [f"{dataset}: {self.matched:,} samples got a '{name}' box; "
                 f"{len(self.samples_without_box):,} samples have none (NaN, scored on the fallback box); "
                 f"{len(self.entries_without_sample):,} entries of the file match no sample"]
        typed = {k: v for k, v in sorted(self.types.items()) if k != UNTYPED}
        if typed:  # KD's files mark train and test entries only where the dataset holds both (AFLW)
            untyped = f" ({self.types[UNTYPED]:,} without a type)" if UNTYPED in self.types else ""
            lines.append("  entry types: " + ", ".join(f"{k} {v:,}" for k, v in typed.items()) + untyped)
        if self.entries_outside:
            lines.append(f"  {len(self.entries_outside):,} entries name a path outside the dataset folder and were "
                         f"refused: {', '.join(repr(k) for k in self.entries_outside[:3])}")
        lines += [f"  no sample for: {key}" for key in self.entries_without_sample[:5]]
        lines += [f"  no box for: {key}" for key in self.samples_without_box[:5]]
        return "\n".join(lines)


def _kd_key(faces_in_key: bool, path: str, entry: dict) -> str:
    return f"{path}#{entry['faceid']}" if faces_in_key and "faceid" in entry else path


def import_kd_json(data_path: str | Path, json_path: str | Path, name: str = "kd",
                   replace: bool = False) -> ImportReport:
    """Read a KD box file into ``bbox/<name>`` of a prepared file; unmatched entries on both sides, and
    entries whose path leaves the dataset folder, are reported. ``replace``: overwrite a box the
    converter wrote."""
    check_source_name(name)
    data = HPFile(data_path)
    try:
        content = parse_json(Path(json_path).read_bytes(), f"{json_path} (a JSON box file)")
    except OSError as err:
        raise HpbenchError(f"{json_path}: not a readable JSON box file ({err.strerror or err})") from None
    if not isinstance(content, dict):
        raise HpbenchError(f"{json_path}: expected an object of image path → list of boxes")
    faces_in_key = get_converter(data.layout.dataset).faces_in_key
    position = {key: i for i, key in enumerate(data.keys)}
    boxes = np.full((len(data), 4), np.nan)
    report = ImportReport()
    types: Counter = Counter()
    for path, entries in content.items():
        if leaves_root(path, "the dataset"):
            report.entries_outside.append(path)
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            try:
                box = np.asarray(entry["bbox"], dtype=np.float64).reshape(4)
            except (KeyError, TypeError, ValueError):
                raise HpbenchError(f"{json_path}: entry for {path!r} has no 4-number 'bbox'") from None
            if not np.all(np.isfinite(box)) or box[2] < box[0] or box[3] < box[1]:
                raise HpbenchError(f"{json_path}: entry for {path!r} has the box {box.tolist()}: not four finite "
                                   "numbers x1 y1 x2 y2 with x2 ≥ x1 and y2 ≥ y1")
            key = _kd_key(faces_in_key, path, entry)
            types[str(entry.get("type", UNTYPED))] += 1
            if key not in position:
                report.entries_without_sample.append(key)
                continue
            boxes[position[key]] = box
    usable = np.isfinite(boxes).all(axis=1)
    report.matched = int(usable.sum())
    report.samples_without_box = [str(k) for k in data.keys[~usable]]
    report.types = dict(types)
    data.close()
    add_box_source(data_path, name, boxes, attrs={"imported_from": Path(json_path).name,
                                                  "file_sha256": file_sha256(json_path)}, replace=replace)
    return report


def export_kd_json(data_path: str | Path, source: str, out: str | Path, types: dict[str, str] | None = None) -> Path:
    """Write ``bbox/<source>`` in KD's JSON format (``types``: key → "train"/"test", e.g. from a protocol)."""
    data = HPFile(data_path)
    boxes = data.box(source)
    faces_in_key = get_converter(data.layout.dataset).faces_in_key
    content: dict[str, list] = {}
    for i, key in enumerate(data.keys):
        if not np.isfinite(boxes[i]).all():
            continue
        path, _, face = str(key).partition("#")
        entry = {"bbox": [float(v) for v in boxes[i]]}  # every digit: a crop truncates to int
        if types and key in types:
            entry["type"] = types[key]
        if faces_in_key and face:
            entry["faceid"] = int(face)
        content.setdefault(path, []).append(entry)
    return write_text_atomic(out, json.dumps(content, indent=1) + "\n")
