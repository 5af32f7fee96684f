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
bounding rectangle as ``cv2.boundingRect`` makes it of the rounded points (x, y, x + w, y + h).
Panoptic: ``SEQ/hdImgs/CAM/CAM_FRAME.jpg;x_min;y_min;w;h;yaw;pitch;roll``, the box (x, y, x + w, y + h);
a line names an image, not a person, so it goes to the face of that image whose own box it overlaps
most (IoU at least MIN_IOU), each face once. The yaw is hpbench's negated, pitch and roll are
hpbench's (checked on BIWI frame 01/00003 and the real AFLW2000 files). In matrices: opal23 builds
R_o = Rx(pitch)·Ry(yaw)·Rz(roll) (images_framework ``Rotation.from_euler('XYZ', …)``), and
diag(1, −1, 1)·R_oᵀ·diag(1, −1, 1) = Rz(roll)·Ry(−yaw)·Rx(pitch), hpbench's R of (−yaw, pitch, roll), for
any angles: the adapter holds over the whole circle.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpbench.bboxes.boxfiles import ImportReport
from hpbench.bboxes.relabel import iou
from hpbench.converters import get_converter
from hpbench.errors import HpbenchError
from hpbench.format import HPFile, add_box_source, add_label_source
from hpbench.format.validate import bad_label_rows
from hpbench.paths import leaves_root
from hpbench.provenance import file_sha256

OPAL_LAYOUTS = {  # header line → (path prefix dropped from the key, what follows the path)
    "#;image;tl_x;tl_y;br_x;br_y;yaw;pitch;roll;": ("kinect_head_pose_db/", "box"),
    "#;image;yaw;pitch;roll;pt_x;pt_y": ("images/", "landmarks"),
    "#;image;x_min;y_min;w;h;yaw;pitch;roll": ("", "xywh"),
}
MIN_IOU = 0.3  # a line naming an image, not a person, goes to the face whose own box it overlaps most
OPAL_POINTS = 68


@dataclass
class PeerFile:
    """What a peer's file gives, per key: a box (x1, y1, x2, y2) and, where it has them, labels
    (yaw, pitch, roll) in hpbench's convention."""

    keys: list[str]
    boxes: np.ndarray
    labels: np.ndarray | None
    by_image: bool = False  # keys name images; each goes to the face of the image its box overlaps most


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
    """An opal23 annotation list (BIWI, AFLW2000 or Panoptic)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise HpbenchError(f"{path}: not a readable opal23 annotation file ({err})") from None
    header = lines[0].strip() if lines else ""
    if header not in OPAL_LAYOUTS:
        raise HpbenchError(f"{path}: the first line {header[:60]!r} is none of opal23's BIWI, AFLW2000 or Panoptic "
                           f"headers ({' | '.join(OPAL_LAYOUTS)})")
    prefix, kind = OPAL_LAYOUTS[header]
    keys, boxes, labels = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.strip().split(";")
        if not line.strip() or parts[0] in ("#", "@"):
            continue
        try:
            if kind in ("box", "xywh"):
                box = [float(v) for v in parts[1:5]]
                angles = [float(v) for v in parts[5:8]]
                if len(parts) != 8:
                    raise ValueError(f"{len(parts)} fields, expected 8")
                if kind == "xywh":
                    box = [box[0], box[1], box[0] + box[2], box[1] + box[3]]
            else:
                angles = [float(v) for v in parts[2:5]]
                points = np.rint(np.array(parts[5:], dtype=np.float64).reshape(OPAL_POINTS, 2))
                box = [*points.min(axis=0), *(points.max(axis=0) + 1)]
        except ValueError as err:
            raise HpbenchError(f"{path}: line {number} ({line[:60]!r}…) is malformed: {err}") from None
        keys.append(parts[0][len(prefix):] if parts[0].startswith(prefix) else parts[0])
        boxes.append(box)
        labels.append([-angles[0], angles[1], angles[2]])
    return PeerFile(keys, np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(labels).reshape(-1, 3),
                    by_image=kind == "xywh")


PEER_FORMATS = {"headposeplus": read_headposeplus, "opal23": read_opal23}


def _positions(data: HPFile, peer: PeerFile) -> list[int | None]:
    """The sample each row of the peer's file goes to (None: no sample). Where its keys name images,
    the face (``image#id``) of that image whose own box overlaps the row's most, each face once."""
    if not peer.by_image:
        position = {key: i for i, key in enumerate(data.keys)}
        return [position.get(key) for key in peer.keys]
    faces: dict[str, list[int]] = {}
    for i, key in enumerate(data.keys):
        faces.setdefault(str(key).partition("#")[0], []).append(i)
    own = data.box(get_converter(data.layout.dataset).reference_box)
    taken, out = set(), []
    for key, box in zip(peer.keys, peer.boxes):
        candidates = [i for i in faces.get(key, []) if i not in taken]
        overlaps = iou(own[candidates], box).tolist() if candidates else []
        best = candidates[int(np.argmax(overlaps))] if candidates and max(overlaps) >= MIN_IOU else None
        if best is not None:
            taken.add(best)
        out.append(best)
    return out


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
    positions = _positions(data, peer)
    boxes = np.full((len(data), 4), np.nan)
    labels = np.full((len(data), 3), np.nan)
    report = ImportReport()
    for row, key in enumerate(peer.keys):
        if leaves_root(key, "the dataset"):
            report.entries_outside.append(key)
        elif positions[row] is None:
            report.entries_without_sample.append(key)
        else:
            boxes[positions[row]] = peer.boxes[row]
            if with_labels:
                labels[positions[row]] = peer.labels[row]
    usable = np.isfinite(boxes).all(axis=1)
    report.matched = int(usable.sum())
    report.samples_without_box = [str(k) for k in data.keys[~usable]]
    if with_labels:  # checked before the boxes go in, so that an import is applied whole or not at all
        if bad_label_rows(labels):
            raise HpbenchError(f"{path}: a label row is neither three finite angles nor all NaN; nothing was changed")
        if name in data.layout.label_sources and not replace:
            raise HpbenchError(f"{data_path}: labels/{name} exists; pass --replace or choose another --name; "
                               "nothing was changed")
    data.close()
    attrs = {"imported_from": Path(path).name, "file_sha256": file_sha256(path), "format": file_format}
    add_box_source(data_path, name, boxes, attrs=attrs, replace=replace)
    if with_labels:
        add_label_source(data_path, name, labels, attrs=attrs, replace=replace)
    return report
