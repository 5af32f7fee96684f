"""Validating an hpbench file against the format: keys, dtypes, shapes, value rules, digests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from hpbench.format.digest import READ_BLOCK, FieldHasher, column, combine_digest, iter_blocks
from hpbench.format.layout import IMAGE_FORMATS, Field, FormatError, Layout, rejected_box_key
from hpbench.format.reader import open_h5
from hpbench.io import write_text_atomic
from hpbench.pose import ANGLE_NAMES, rotation_from_ypr
from hpbench.resources import cache_dir


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail"
    message: str = ""


@dataclass
class Validation:
    path: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def add(self, name: str, problems: list[str], ok_message: str = "", warn: bool = False) -> None:
        status = ("warn" if warn else "fail") if problems else "ok"
        shown = problems[:5] + ([f"… and {len(problems) - 5} more"] if len(problems) > 5 else [])
        self.checks.append(Check(name, status, "; ".join(shown) if problems else ok_message))


def validate(path: str | Path) -> Validation:
    """Check a file against the format: keys, dtypes, shapes, uniqueness, value rules, content digest."""
    report = Validation(Path(path))
    try:
        handle = open_h5(path)
    except FormatError as err:
        report.add("hpbench file", [str(err)])
        return report
    with handle:
        try:
            layout = _check_structure(handle, report)
            if layout is not None and report.ok:
                _check_content(handle, layout, report)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError, UnicodeDecodeError) as err:
            report.add("readable", [f"the file is damaged: {type(err).__name__}: {err}"])  # HDF5's own checks
    return report


def row_problems(rows: list[dict], layout: Layout) -> list[str]:
    """The value rules applied to samples as ``sample_row`` made them (before they are written)."""
    fields = layout.fields()
    try:
        block = {name: column(spec, [row[name] for row in rows]) for name, spec in fields.items()
                 if not spec.variable_length}
    except (ValueError, TypeError) as err:
        return [str(err)]
    block["image/format"] = np.array([row["image/format"] for row in rows])
    return value_problems(block, layout)


def _check_structure(handle: h5py.File, report: Validation) -> Layout | None:
    """Root attributes, the layout, and every key the layout implies with its dtype and shape."""
    missing_attrs = [a for a in ("dataset", "task", "count", "layout", "content_sha256") if a not in handle.attrs]
    report.add("root attributes", [f"missing attribute {a!r}" for a in missing_attrs], "present")
    if missing_attrs:
        return None
    try:
        layout = Layout.from_json(handle.attrs["layout"])
    except (ValueError, TypeError, KeyError) as err:
        report.add("layout", [f"unreadable layout attribute: {err}"])
        return None
    count = int(handle.attrs["count"])
    expected = layout.fields()
    present = _dataset_names(handle)
    problems = [f"missing key {name!r}" for name in expected if name not in present]
    problems += [f"unexpected key {name!r}" for name in sorted(present - set(expected))]
    report.add("keys", problems, f"{len(expected)} keys as the layout says")
    problems = [p for name, spec in expected.items() if name in present
                for p in _shape_problems(handle[name], spec, count)]
    report.add("dtypes and shapes", problems, f"{count} sample{'' if count == 1 else 's'}")
    return layout


def _check_content(handle: h5py.File, layout: Layout, report: Validation) -> None:
    """Unique keys, the value rules, each key's digest and the content digest, in blocks bounded by bytes."""
    count, expected = int(handle.attrs["count"]), layout.fields()
    keys = handle["key"].asstr()[()]
    unique, counts = np.unique(keys, return_counts=True)
    dupes = [f"key {k!r} appears {c} times" for k, c in zip(unique, counts) if c > 1]
    dupes += ["empty key"] * int(np.sum(keys == ""))
    report.add("unique keys", dupes, f"{count} distinct")
    formats = handle["image/format"].asstr()[()]
    magic = {"image/encoded": formats, "depth/encoded": np.full(count, "png")}
    digests, problems = {}, []
    for name in expected:  # one pass over each key: its digest, and the file signatures of encoded ones
        hasher = FieldHasher(expected[name])
        for start, block in iter_blocks(handle[name], count):
            hasher.update(block)
            if name in magic:
                problems += _signature_problems(name, block, magic[name][start:start + len(block)], start)
        digests[name] = hasher.hexdigest()
    checked = [name for name in expected if not expected[name].variable_length or name == "image/format"]
    for start in range(0, count, READ_BLOCK):  # the value rules, over the small keys, block by block
        block = {name: handle[name][start:start + READ_BLOCK] for name in checked}
        block["image/format"] = formats[start:start + READ_BLOCK]
        problems += [p for p in value_problems(block, layout) if p not in problems]
    report.add("value rules", problems, "NaN, box and image rules hold")
    changed = [name for name, value in digests.items() if handle[name].attrs.get("sha256", value) != value]
    report.add("key digests", [f"{name}: content differs from its recorded sha256" for name in changed],
               "each key matches its recorded sha256")
    digest, stored = combine_digest(layout, count, digests), handle.attrs["content_sha256"]
    report.add("content digest",
               [] if digest == stored else [f"recomputed {digest[:16]}… but the file says {stored[:16]}…"], digest)


def _dataset_names(handle: h5py.File) -> set[str]:
    names: set[str] = set()
    handle.visititems(lambda name, obj: names.add(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _shape_problems(dataset: h5py.Dataset, spec: Field, count: int) -> list[str]:
    problems = []
    if dataset.shape != (count,) + spec.row_shape:
        problems.append(f"{spec.name}: shape {dataset.shape}, expected {(count,) + spec.row_shape}")
    if spec.dtype == "str":
        ok = h5py.check_string_dtype(dataset.dtype) is not None
    elif spec.dtype == "bytes":
        ok = h5py.check_vlen_dtype(dataset.dtype) == np.dtype(np.uint8)
    else:
        ok = dataset.dtype == spec.dtype
    if not ok:
        problems.append(f"{spec.name}: dtype {dataset.dtype}, expected {spec.describe()}")
    return problems


def _signature_problems(name: str, rows, formats, start: int) -> list[str]:
    """Rows of an encoded key that do not start with their format's file signature."""
    return [f"{name}[{start + offset}] does not start like a {fmt} file"
            for offset, (data, fmt) in enumerate(zip(rows, formats))
            if fmt in IMAGE_FORMATS and data[:len(IMAGE_FORMATS[fmt])].tobytes() != IMAGE_FORMATS[fmt]]


def value_problems(block: dict[str, np.ndarray], layout: Layout) -> list[str]:
    """The format's value rules over a block of rows (key name → rows): NaN and infinity, boxes,
    poses, joints, image sizes. ``prepare`` applies them to each sample, ``verify`` to each block."""
    problems = []
    if np.any(block["image/height"] <= 0) or np.any(block["image/width"] <= 0):
        problems.append("image/height and image/width must be positive")
    bad = sorted(set(np.asarray(block["image/format"], dtype=str)) - set(IMAGE_FORMATS))
    if bad:
        problems.append(f"image/format has unknown values {bad}")
    if layout.task == "headpose":
        problems += _pose_problems(block["pose/ypr"], block["pose/rotation"], layout.pose_angles)
    if layout.landmark_names:
        xy = block["landmarks/xy"]
        if np.any(np.isnan(xy[..., 0]) != np.isnan(xy[..., 1])):
            problems.append("landmarks/xy: a point with exactly one NaN coordinate")
        if np.any(np.isinf(xy)):
            problems.append("landmarks/xy: an infinite coordinate")
    for name in [f"bbox/{source}" for source in layout.box_sources] + [rejected_box_key(s) for s in layout.box_rejected]:
        boxes = block[name]
        missing = np.isnan(boxes).all(axis=1)  # a sample without this box is a row of NaN
        present = boxes[~missing]
        if not np.all(np.isfinite(present)):
            problems.append(f"{name}: a row partly NaN or infinite")
        elif np.any(present[:, 2] < present[:, 0]) or np.any(present[:, 3] < present[:, 1]):
            problems.append(f"{name}: x2 < x1 or y2 < y1")
    if layout.task == "bodypose":
        xy, visible = block["joints/xy"], block["joints/visible"]
        if np.any(visible & ~np.isfinite(xy).all(axis=-1)):
            problems.append("joints/xy: a visible joint with NaN coordinates")
        if np.any(np.isinf(xy)):
            problems.append("joints/xy: an infinite coordinate")
        if not np.all(np.isfinite(block["person/center"])) or not np.all(block["person/scale"] > 0):
            problems.append("person/center or person/scale: not finite, or a scale that is not positive")
    return problems


def _pose_problems(ypr: np.ndarray, rotation: np.ndarray, angles: Iterable[str]) -> list[str]:
    problems = []
    present = np.array([name in angles for name in ANGLE_NAMES])
    if np.any(~np.isfinite(ypr[:, present])):
        problems.append(f"pose/ypr: NaN or infinite value in an angle the dataset has ({', '.join(angles)})")
    if np.any(~np.isnan(ypr[:, ~present])):
        problems.append("pose/ypr: a value in an angle the dataset lacks (must be NaN)")
    complete = np.all(np.isfinite(ypr), axis=1)
    if np.any(~np.isnan(rotation[~complete])):
        problems.append("pose/rotation: finite where an angle is missing")
    if complete.any():
        error = np.abs(rotation_from_ypr(ypr[complete]) - rotation[complete]).max()
        if error > 1e-5:
            problems.append(f"pose/rotation differs from pose/ypr by up to {error:.2g}")
    return problems


def check_before_use(path: str | Path) -> str:
    """Refuse a prepared file that fails ``validate`` before it is trained or scored on; returns its
    content digest. The full check reads every byte once; a file that passed is remembered (by
    path, size, modification time, inode and digest in ``$HPBENCH_CACHE/verified.json``), so a
    later run on the unchanged file costs one ``stat``."""
    path = Path(path).resolve()
    stat = path.stat()
    with open_h5(path) as handle:
        digest = str(handle.attrs.get("content_sha256", ""))
    stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino, digest]
    cache = cache_dir() / "verified.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if known.get(str(path)) == stamp:
        return digest
    report = validate(path)
    if not report.ok:
        failed = "; ".join(f"{c.name}: {c.message}" for c in report.checks if c.status == "fail")
        raise FormatError(f"{path}: fails hpbench's checks ({failed[:300]}); it was changed or damaged after "
                          f"prepare. `hpbench verify {path}` gives the full report; prepare it again")
    known = {name: value for name, value in known.items() if Path(name).is_file()}
    known[str(path)] = stamp
    try:
        write_text_atomic(cache, json.dumps(known, indent=1) + "\n")
    except OSError:
        pass  # a read-only cache only costs the check again next time
    return digest
