"""Validating an hpbench file against the format: keys, dtypes, shapes, value rules, digests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from hpbench.format.digest import READ_BLOCK, FieldHasher, column, combine_digest, iter_blocks
from hpbench.format.image_size import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from hpbench.format.layout import (IMAGE_FORMATS, PERSON_BOX_PX, Field, FormatError, Layout, label_key,
                                   rejected_box_key)
from hpbench.format.reader import open_h5
from hpbench.pose import ANGLE_NAMES, rotation_from_ypr


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


# A box, landmark or joint may lie outside its image (a face at the border, a hidden joint), but by at
# most this many image sides: further out it is damage, and cropping it would allocate without bound.
OUTSIDE_MARGIN = 1.0


def outside_image(xy: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Per row, whether any finite point of ``xy`` (rows of x, y pairs: (N, ..., 2) or boxes (N, 4))
    lies beyond ``OUTSIDE_MARGIN`` image sides of its image."""
    points = np.asarray(xy, dtype=np.float64).reshape(len(xy), -1, 2)
    size = np.stack([np.asarray(widths, np.float64), np.asarray(heights, np.float64)], axis=1)[:, None, :]
    with np.errstate(invalid="ignore"):
        beyond = (points < -OUTSIDE_MARGIN * size) | (points > (1 + OUTSIDE_MARGIN) * size)
    return beyond.any(axis=(1, 2))


def bad_boxes(boxes: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The rows of ``boxes`` (x1 y1 x2 y2; a row of NaN is "no box") that break the box rules, and
    why: partly NaN or infinite, x2 < x1 or y2 < y1, or beyond the image's margin."""
    boxes = np.asarray(boxes, dtype=np.float64)
    missing = np.isnan(boxes).all(axis=1)
    broken = ~missing & ~np.isfinite(boxes).all(axis=1)
    with np.errstate(invalid="ignore"):
        inverted = ~missing & ~broken & ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    outside = ~missing & ~broken & outside_image(boxes, heights, widths)
    reasons = [text for flag, text in ((broken, "a row partly NaN or infinite"), (inverted, "x2 < x1 or y2 < y1"),
                                       (outside, f"a box more than {OUTSIDE_MARGIN:g} image side outside its image"))
               if flag.any()]
    return broken | inverted | outside, reasons


def bad_label_rows(rows: np.ndarray) -> bool:
    """Whether a label source's (N, 3) rows break its rule: each row three finite angles or all NaN."""
    finite = np.isfinite(rows)
    return bool(np.any(finite.any(axis=1) & ~finite.all(axis=1)) or np.any(np.isinf(rows)))


def value_problems(block: dict[str, np.ndarray], layout: Layout) -> list[str]:
    """The format's value rules over a block of rows (key name → rows): NaN and infinity, boxes,
    poses, joints, image sizes. ``prepare`` applies them to each sample, ``verify`` to each block."""
    problems = []
    heights, widths = block["image/height"], block["image/width"]
    if np.any(heights <= 0) or np.any(widths <= 0):
        problems.append("image/height and image/width must be positive")
    elif np.any((np.maximum(heights, widths) > MAX_IMAGE_SIDE)
                | (heights.astype(np.int64) * widths.astype(np.int64) > MAX_IMAGE_PIXELS)):
        problems.append(f"image/height and image/width: an image beyond {MAX_IMAGE_SIDE:,} pixels a side or "
                        f"{MAX_IMAGE_PIXELS:,} in all")
    bad = sorted(set(np.asarray(block["image/format"], dtype=str)) - set(IMAGE_FORMATS))
    if bad:
        problems.append(f"image/format has unknown values {bad}")
    if layout.task == "headpose":
        problems += _pose_problems(block["pose/ypr"], block["pose/rotation"], layout.pose_angles)
        for name in map(label_key, layout.label_sources):
            if bad_label_rows(block[name]):
                problems.append(f"{name}: a row that is neither three finite angles nor all NaN (no label)")
    if layout.landmark_names:
        xy = block["landmarks/xy"]
        if np.any(np.isnan(xy[..., 0]) != np.isnan(xy[..., 1])):
            problems.append("landmarks/xy: a point with exactly one NaN coordinate")
        if np.any(np.isinf(xy)):
            problems.append("landmarks/xy: an infinite coordinate")
        elif np.any(outside_image(xy, heights, widths)):
            problems.append(f"landmarks/xy: a point more than {OUTSIDE_MARGIN:g} image side outside its image")
    for name in [f"bbox/{source}" for source in layout.box_sources] + [rejected_box_key(s) for s in layout.box_rejected]:
        problems += [f"{name}: {reason}" for reason in bad_boxes(block[name], heights, widths)[1]]
    if layout.task == "bodypose":
        xy, visible = block["joints/xy"], block["joints/visible"]
        if np.any(visible & ~np.isfinite(xy).all(axis=-1)):
            problems.append("joints/xy: a visible joint with NaN coordinates")
        if np.any(np.isinf(xy)):
            problems.append("joints/xy: an infinite coordinate")
        elif np.any(outside_image(xy, heights, widths)):
            problems.append(f"joints/xy: a joint more than {OUTSIDE_MARGIN:g} image side outside its image")
        if not np.all(np.isfinite(block["person/center"])) or not np.all(block["person/scale"] > 0):
            problems.append("person/center or person/scale: not finite, or a scale that is not positive")
        elif np.any(outside_image(block["person/center"], heights, widths)) or \
                np.any(block["person/scale"] * PERSON_BOX_PX > (1 + 2 * OUTSIDE_MARGIN) * np.maximum(heights, widths)):
            problems.append("person/center or person/scale: a person box far larger than, or far outside, its image")
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
