"""WIDER FACE ground truth (``wider_face_split/wider_face_{train,val}_bbx_gt.txt``) → YOLO labels.

The text format: blocks of an image path (relative to ``WIDER_<split>/images/``), a face count n, then
n lines ``x1 y1 w h blur expression illumination invalid occlusion pose``. Quirks handled: an image
with n = 0 is still followed by one line of ten zeros; lines carry trailing spaces; the file ends
with a blank line; some boxes are marked invalid, some have w or h = 0 (both are dropped and counted).

``prepare_wider`` writes a YOLO dataset: ``DIR/images/{train,val}/…`` (symbolic links to the WIDER
images, so nothing is copied), ``DIR/labels/{train,val}/….txt`` with ``0 cx cy w h`` normalised, and
``DIR/data.yaml`` with absolute paths and no ``download:`` key.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hpbench.converters.images import read_image_file
from hpbench.errors import BadSourceFile, HpbenchError
from hpbench.io import write_text_atomic
from hpbench.paths import leaves_root

SPLITS = ("train", "val")


@dataclass
class WiderImage:
    path: str  # relative to WIDER_<split>/images
    boxes: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # x1, y1, w, h, invalid


@dataclass
class WiderCounts:
    images: int = 0
    faces: int = 0
    invalid: int = 0
    zero_size: int = 0
    kept: int = 0
    images_without_faces: int = 0
    images_missing: int = 0


def parse_ground_truth(path: Path) -> list[WiderImage]:
    """The blocks of a ``*_bbx_gt.txt`` file; a malformed line, or an image path that leaves the
    images folder, is an error naming the line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        line = Path(path).read_bytes()[: err.start].count(b"\n") + 1
        raise HpbenchError(f"{path}, line {line}: not UTF-8 text (byte {err.object[err.start]:#04x}); "
                           "is this WIDER FACE's ground-truth file?") from None
    except OSError as err:
        raise HpbenchError(f"{path}: cannot be read ({err.strerror or err})") from None
    images, index = [], 0

    def fail(message: str):
        raise HpbenchError(f"{path}, line {index + 1}: {message}")

    while index < len(lines):
        name = lines[index].strip()
        if not name:
            index += 1
            continue
        if not name.lower().endswith((".jpg", ".jpeg", ".png")):
            fail(f"expected an image path, found {name[:60]!r}")
        if problem := leaves_root(name, "the images folder"):
            fail(problem)
        index += 1
        try:
            count = int(lines[index].strip())
        except (IndexError, ValueError):
            fail("expected the number of faces")
        index += 1
        image = WiderImage(name)
        for _ in range(max(count, 1)):  # a face-less image still has one line of zeros
            try:
                values = [int(v) for v in lines[index].split()]
            except (IndexError, ValueError):
                fail("expected a box line of ten integers")
            if len(values) != 10:
                fail(f"expected ten numbers on a box line, found {len(values)}")
            if count > 0:
                x1, y1, w, h, invalid = values[0], values[1], values[2], values[3], values[7]
                image.boxes.append((x1, y1, w, h, invalid))
            index += 1
        images.append(image)
    return images


def yolo_lines(boxes, width: int, height: int, counts: WiderCounts) -> list[str]:
    """``0 cx cy w h`` (normalised, clipped to the image) for the valid, non-empty boxes."""
    lines = []
    for x1, y1, w, h, invalid in boxes:
        counts.faces += 1
        if invalid:
            counts.invalid += 1
            continue
        if w <= 0 or h <= 0:
            counts.zero_size += 1
            continue
        left, top = max(0, x1), max(0, y1)
        right, bottom = min(width, x1 + w), min(height, y1 + h)
        if right <= left or bottom <= top:
            counts.zero_size += 1
            continue
        counts.kept += 1
        lines.append(f"0 {(left + right) / 2 / width:.6f} {(top + bottom) / 2 / height:.6f} "
                     f"{(right - left) / width:.6f} {(bottom - top) / height:.6f}")
    return lines


def prepare_wider(src: str | Path, out: str | Path) -> dict[str, WiderCounts]:
    """Convert each split whose ground-truth file is present; returns the counts per split."""
    src, out = Path(src).resolve(), Path(out).resolve()
    found = {split: src / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt" for split in SPLITS}
    found = {split: path for split, path in found.items() if path.is_file()}
    if not found:
        raise HpbenchError(f"{src} does not look like WIDER FACE: no wider_face_split/wider_face_{{train,val}}_bbx_gt.txt")
    counts = {}
    for split, gt in found.items():
        images_dir = src / f"WIDER_{split}" / "images"
        tally = WiderCounts()
        for image in parse_ground_truth(gt):
            tally.images += 1
            tally.images_without_faces += not image.boxes
            source = images_dir / image.path
            if not source.is_file():
                tally.images_missing += 1
                continue
            try:  # decoded with OpenCV: ultralytics, once imported, patches PIL's Image.open
                _, _, height, width = read_image_file(source)
            except BadSourceFile as err:
                raise HpbenchError(f"{err}; remove it from {gt.name} or restore the file") from None
            link = out / "images" / split / image.path
            label = (out / "labels" / split / image.path).with_suffix(".txt")
            link.parent.mkdir(parents=True, exist_ok=True)
            label.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(source, link)
            label.write_text("\n".join(yolo_lines(image.boxes, width, height, tally)) + "\n")
        counts[split] = tally
    if "train" not in counts:
        raise HpbenchError(f"{src}: no training split (wider_face_train_bbx_gt.txt); the detector needs one")
    val = "val" if "val" in counts else "train"
    write_text_atomic(out / "data.yaml", f"# made by hpbench detector prepare-wider from {src}\n"
                      f"path: {out}\ntrain: images/train\nval: images/{val}\nnames:\n  0: face\n")
    write_text_atomic(out / "counts.json", json.dumps({k: asdict(v) for k, v in counts.items()}, indent=2) + "\n")
    return counts
