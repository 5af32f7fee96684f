"""Box and label files that peers publish for their test sets, read into a prepared file.

``headposeplus`` (github.com/kuhnkeF/headposeplus ``data/*.npz``, read by its ``hpp/BiwiDataset.py``):
a NumPy archive with ``images`` (``SS/frame_NNNNN_rgb.png``), ``bbox`` (x, y, w, h) and ``ypr`` (yaw,
pitch, roll in HopeNet's and FSA-Net's convention, hpbench's), ``pyr`` (another decomposition, not
read) and, in some files, ``calibrated``. headposeplus crops ``PIL.crop((x, y, x + w − 1, y + h − 1))``
of ``int`` corners: the pixels x … x + w − 2. hpbench stores that region, (x, y, x + w − 1, y + h − 1),
which its ``kd`` crop cuts exactly.

``opal23`` (github.com/pcr-upm/opal23_headpose ``annotations/*_ann.txt``, read by
pcr-upm/images_framework ``src/datasets.py``): ``;``-separated lines after a ``#;image;…`` header.
BIWI: ``kinect_head_pose_db/SS/frame_NNNNN_rgb.png;tl_x;tl_y;br_x;br_y;yaw;pitch;roll``, the box as
listed. AFLW2000: ``images/NAME.jpg;identity;yaw;pitch;roll`` then 68 points x;y, the box being their
bounding rectangle as ``cv2.boundingRect`` makes it of the rounded points (x, y, x + w, y + h). Its
yaw is hpbench's negated (checked on BIWI frame 01/00003 and the real AFLW2000 files); pitch and roll
are hpbench's.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpbench.bboxes.boxfiles import ImportReport
from hpbench.errors import HpbenchError
from hpbench.format import HPFile, add_box_source, add_label_source
from hpbench.paths import leaves_root
from hpbench.provenance import file_sha256

OPAL_LAYOUTS = {  # header line → (path prefix dropped from the key, what follows the path)
    "#;image;tl_x;tl_y;br_x;br_y;yaw;pitch;roll;": ("kinect_head_pose_db/", "box"),
    "#;image;yaw;pitch;roll;pt_x;pt_y": ("images/", "landmarks"),
}
OPAL_POINTS = 68


@dataclass
class PeerFile:
    """What a peer's file gives, per key: a box (x1, y1, x2, y2) and, where it has them, labels
    (yaw, pitch, roll) in hpbench's convention."""

    keys: list[str]
    boxes: np.ndarray
    labels: np.ndarray | None


def read_headposeplus(path: str | Path) -> PeerFile:
    """A headposeplus ``.npz`` (read without pickles)."""
    try:
        archive = np.load(path, allow_pickle=False)
        content = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise HpbenchError(f"{path}: not a readable headposeplus .npz ({err})") from None
    missing = {"images", "bbox"} - set(content)
    if missing:
        raise HpbenchError(f"{path}: a headposeplus file has 'images' and 'bbox'; this one lacks {sorted(missing)} "
                           f"(has {sorted(content)})")
    keys, xywh = content["images"], content["bbox"]
    if keys.ndim != 1 or keys.dtype.kind != "U" or xywh.shape != (len(keys), 4):
        raise HpbenchError(f"{path}: 'images' must be {len(keys)} names and 'bbox' {len(keys)} × 4 numbers "
                           f"(x, y, w, h); got {keys.shape} {keys.dtype} and {xywh.shape}")
    if not np.isfinite(xywh).all():
        raise HpbenchError(f"{path}: 'bbox' holds NaN or infinite numbers")
    corner = np.trunc(xywh[:, :2])  # int() of each number, as hpp/BiwiDataset.xywh_pil_crop takes them
    size = np.trunc(xywh[:, 2:])
    boxes = np.concatenate([corner, corner + size - 1], axis=1)
    labels = content.get("ypr")
    if labels is not None and labels.shape != (len(keys), 3):
        raise HpbenchError(f"{path}: 'ypr' must be {len(keys)} × 3 angles, got {labels.shape}")
    return PeerFile([str(k) for k in keys], boxes, None if labels is None else labels.astype(np.float64))


def read_opal23(path: str | Path) -> PeerFile:
    """An opal23 annotation list (BIWI or AFLW2000)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise HpbenchError(f"{path}: not a readable opal23 annotation file ({err})") from None
    header = lines[0].strip() if lines else ""
    if header not in OPAL_LAYOUTS:
        raise HpbenchError(f"{path}: the first line {header[:60]!r} is none of opal23's BIWI or AFLW2000 headers "
                           f"({' | '.join(OPAL_LAYOUTS)})")
    prefix, kind = OPAL_LAYOUTS[header]
    keys, boxes, labels = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.strip().split(";")
        if not line.strip() or parts[0] in ("#", "@"):
            continue
        try:
            if kind == "box":
                box = [float(v) for v in parts[1:5]]
                angles = [float(v) for v in parts[5:8]]
                if len(parts) != 8:
                    raise ValueError(f"{len(parts)} fields, expected 8")
            else:
                angles = [float(v) for v in parts[2:5]]
                points = np.rint(np.array(parts[5:], dtype=np.float64).reshape(OPAL_POINTS, 2))
                box = [*points.min(axis=0), *(points.max(axis=0) + 1)]
        except ValueError as err:
            raise HpbenchError(f"{path}: line {number} ({line[:60]!r}…) is malformed: {err}") from None
        keys.append(parts[0][len(prefix):] if parts[0].startswith(prefix) else parts[0])
        boxes.append(box)
        labels.append([-angles[0], angles[1], angles[2]])
    return PeerFile(keys, np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(labels).reshape(-1, 3))


PEER_FORMATS = {"headposeplus": read_headposeplus, "opal23": read_opal23}


def import_peer_file(data_path: str | Path, path: str | Path, file_format: str, name: str,
                     with_labels: bool = False, replace: bool = False) -> ImportReport:
    """Read a peer's file into ``bbox/<name>`` (and ``labels/<name>`` with ``with_labels``) of a
    prepared file; keys on one side only are reported, never dropped unsaid."""
    if file_format not in PEER_FORMATS:
        raise HpbenchError(f"--format {file_format!r}: one of kd, {', '.join(PEER_FORMATS)}")
    peer = PEER_FORMATS[file_format](path)
    if with_labels and peer.labels is None:
        raise HpbenchError(f"{path}: holds no labels ('ypr'); import its boxes without --with-labels")
    data = HPFile(data_path)
    position = {key: i for i, key in enumerate(data.keys)}
    boxes = np.full((len(data), 4), np.nan)
    labels = np.full((len(data), 3), np.nan)
    report = ImportReport()
    for row, key in enumerate(peer.keys):
        if leaves_root(key, "the dataset"):
            report.entries_outside.append(key)
        elif key not in position:
            report.entries_without_sample.append(key)
        else:
            boxes[position[key]] = peer.boxes[row]
            if with_labels:
                labels[position[key]] = peer.labels[row]
    usable = np.isfinite(boxes).all(axis=1)
    report.matched = int(usable.sum())
    report.samples_without_box = [str(k) for k in data.keys[~usable]]
    data.close()
    attrs = {"imported_from": Path(path).name, "file_sha256": file_sha256(path), "format": file_format}
    add_box_source(data_path, name, boxes, attrs=attrs, replace=replace)
    if with_labels:
        add_label_source(data_path, name, labels, attrs=attrs, replace=replace)
    return report
