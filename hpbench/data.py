"""Torch datasets over prepared files: boxes, named crop rules, preprocessing.

Usable on its own in any training loop::

    from torch.utils.data import DataLoader
    from hpbench.data import HeadPoseDataset, Preprocessing, resolve_boxes
    from hpbench.format import HPFile

    data = HPFile("data/aflw2000.h5")
    boxes, fallback = resolve_boxes(data, range(len(data)), "landmarks")
    dataset = HeadPoseDataset("data/aflw2000.h5", range(len(data)), boxes, crop="kd")
    for batch in DataLoader(dataset, batch_size=64, num_workers=2):
        batch["image"], batch["ypr"], batch["index"]        # (B,3,224,224) float, (B,3) degrees, (B,)

The file is opened once per DataLoader worker (hpbench.format.HPFile), images are decoded with
OpenCV. Crop geometry is pure and tested with exact numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects after the crop: square input size, channel order and normalisation."""

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    colour: str = "rgb"  # or "bgr"

    def to_tensor(self, image_bgr: np.ndarray) -> torch.Tensor:
        image = image_bgr[..., ::-1] if self.colour == "rgb" else image_bgr
        array = (image.astype(np.float32) / 255.0 - np.float32(self.mean)) / np.float32(self.std)
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


# ---------------------------------------------------------------------------------------------
# Crop rules: box (x1, y1, x2, y2) → integer region; then the region is cut (padded with black where
# it leaves the image, or clipped to it) and resized.


@dataclass(frozen=True)
class CropRule:
    name: str
    description: str
    region: Callable[[np.ndarray, tuple[int, int]], tuple[int, int, int, int]]
    pad: bool  # black outside the image (PIL's crop) instead of clipping
    resize: str  # "stretch" (aspect ratio not kept) or "shorter-side-centre-crop" (torchvision Resize + CenterCrop)


CROP_RULES: Registry[CropRule] = Registry("crop rule")


def kd_region(box, image_hw) -> tuple[int, int, int, int]:
    """KD: the box itself; x1, y1 clipped at 0, all corners truncated to int, x2, y2 clipped to the image."""
    height, width = image_hw
    x1, y1, x2, y2 = (float(v) for v in box)
    return max(0, int(x1)), max(0, int(y1)), min(width, max(0, int(x2))), min(height, max(0, int(y2)))


def hopenet_aflw2000_region(box, image_hw, k: float = 0.2) -> tuple[int, int, int, int]:
    """HopeNet's AFLW2000 test crop of a landmark box: grow left and up by 2k of the box, then right by
    2k and down by 0.6k of the already grown box; truncate to int (PIL pads outside with black)."""
    x_min, y_min, x_max, y_max = (float(v) for v in box)
    x_min -= 2 * k * abs(x_max - x_min)
    y_min -= 2 * k * abs(y_max - y_min)
    x_max += 2 * k * abs(x_max - x_min)
    y_max += 0.6 * k * abs(y_max - y_min)
    return int(x_min), int(y_min), int(x_max), int(y_max)


def square_region(box, image_hw, margin: float = 0.0) -> tuple[int, int, int, int]:
    """A square on the box centre, side = longer box side × (1 + 2·margin), corners rounded down."""
    x1, y1, x2, y2 = (float(v) for v in box)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (1 + 2 * margin) / 2
    return (int(np.floor(centre_x - half)), int(np.floor(centre_y - half)),
            int(np.floor(centre_x + half)), int(np.floor(centre_y + half)))


for _rule in (
    CropRule("kd", "the box exactly (KD, kd_oe_hpe): clipped, truncated, stretched", kd_region, False, "stretch"),
    CropRule("hopenet-aflw2000", "HopeNet's enlarged landmark box (k = 0.2), resize 224 + centre crop",
             hopenet_aflw2000_region, True, "shorter-side-centre-crop"),
    CropRule("square", "a square on the box centre, side = the longer box side", square_region, True, "stretch"),
    CropRule("square-margin", "a square on the box centre, side = 1.4 × the longer box side",
             lambda box, hw: square_region(box, hw, margin=0.2), True, "stretch"),
):
    CROP_RULES.register(_rule.name)(_rule)


def cut(image: np.ndarray, region: tuple[int, int, int, int], pad: bool) -> np.ndarray:
    """The region of the image; where it leaves the image, black (pad) or nothing (clip)."""
    x1, y1, x2, y2 = region
    height, width = image.shape[:2]
    if not pad:
        return image[max(0, y1):max(0, min(height, y2)), max(0, x1):max(0, min(width, x2))]
    out = np.zeros((max(0, y2 - y1), max(0, x2 - x1)) + image.shape[2:], image.dtype)
    sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[sy1:sy2, sx1:sx2]
    return out


def resize(crop: np.ndarray, size: int, mode: str) -> np.ndarray:
    if mode == "stretch":
        return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    height, width = crop.shape[:2]  # torchvision: the shorter side to `size`, then the centre square
    if height <= width:
        new_h, new_w = size, int(size * width / height)
    else:
        new_h, new_w = int(size * height / width), size
    scaled = cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return scaled[top:top + size, left:left + size]


def crop_image(image: np.ndarray, box, rule: str | CropRule, size: int) -> np.ndarray:
    rule = CROP_RULES.get(rule) if isinstance(rule, str) else rule
    piece = cut(image, rule.region(np.asarray(box), image.shape[:2]), rule.pad)
    if piece.shape[0] == 0 or piece.shape[1] == 0:
        raise ValueError(f"crop rule {rule.name} gives an empty region for box {list(np.round(box, 2))}")
    return resize(piece, size, rule.resize)


# ---------------------------------------------------------------------------------------------


def resolve_boxes(data: HPFile, indices: Sequence[int], source: str | None, reference: str | None = None):
    """(boxes (n, 4), fallback (n,) bool) for the selected samples.

    The ``source`` box is used where the file has one (a finite row, and status "detected" where the
    source carries a status); elsewhere the ``reference`` box, and the sample counts as a fallback.
    """
    indices = np.asarray(indices, dtype=np.intp)
    reference = reference or source
    if source is None:
        raise HpbenchError(f"{data.path}: no box source given")
    if source not in data.layout.box_sources:
        hint = (f" run `hpbench bboxes relabel {data.layout.dataset} --weights <detector.pt>` first, or evaluate on the"
                f" dataset's own boxes with --boxes {reference}" if source == "yolo" else "")
        raise HpbenchError(f"{data.path} has no '{source}' boxes (has: {', '.join(data.layout.box_sources)});{hint}")
    boxes = data.box(source)[indices].astype(np.float64)
    usable = np.isfinite(boxes).all(axis=1)
    status = data.box_status(source)
    if status is not None:
        usable &= status[indices] == "detected"
    if usable.all() or reference == source:
        return boxes, ~usable
    boxes[~usable] = data.box(reference)[indices][~usable]
    return boxes, ~usable


def expand_box(box, input_size: int, pad: int) -> np.ndarray:
    """The box grown by ``pad`` input pixels on every side, for crops of input_size + 2·pad whose
    central input_size square is the box (convolutional ensembles)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = pad * (x2 - x1) / input_size, pad * (y2 - y1) / input_size
    return np.array([x1 - dx, y1 - dy, x2 + dx, y2 + dy])


class HeadPoseDataset(Dataset):
    """Crops of selected samples of one prepared file, with their canonical pose and position.

    ``augment`` (hpbench.augment.PoseAugmentation) runs on the crop before normalisation, with a
    generator seeded by (seed, epoch, position): the same augmentation whatever the worker count.
    ``pad`` > 0 gives crops of input_size + 2·pad pixels (convolutional ensembles). ``extra`` holds
    per-sample arrays aligned with ``indices`` (e.g. a teacher's probabilities, (n, 3, bins)); a
    flipped sample has the bins of the components in ``extra_flip`` reversed.
    """

    def __init__(self, path, indices: Sequence[int], boxes: np.ndarray, crop: str = "kd",
                 preprocessing: Preprocessing = Preprocessing(), augment=None, seed: int = 0, pad: int = 0,
                 extra: np.ndarray | None = None, extra_flip: Sequence[bool] = (False, True, True)):
        self.data = HPFile(path)
        self.indices = np.asarray(indices, dtype=np.intp)
        self.boxes = np.asarray(boxes, dtype=np.float64)
        if len(self.boxes) != len(self.indices) or (extra is not None and len(extra) != len(self.indices)):
            raise ValueError("one box (and one extra row) per selected sample")
        self.crop = CROP_RULES.get(crop)
        self.preprocessing = preprocessing
        self.augment, self.seed, self.epoch = augment, seed, 0
        self.pad = pad
        self.extra, self.extra_flip = extra, np.asarray(extra_flip, bool)
        self.ypr = self.data.ypr[self.indices].astype(np.float32)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def crop_at(self, position: int) -> np.ndarray:
        """The BGR crop of the position-th selected sample, before augmentation and normalisation."""
        index, size = self.indices[position], self.preprocessing.input_size
        box = expand_box(self.boxes[position], size, self.pad) if self.pad else self.boxes[position]
        margin = getattr(self.augment, "crop_margin", 0)
        try:
            return crop_image(self.data.image(index), box, self.crop, size + 2 * self.pad + margin)
        except ValueError as err:
            raise HpbenchError(f"{self.data.path}: sample {self.data.keys[index]}: {err}") from None

    def __getitem__(self, position: int) -> dict:
        image, ypr, flipped = self.crop_at(position), self.ypr[position], False
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, position])
            image, ypr, flipped = self.augment(image, ypr, rng)
        item = {"image": self.preprocessing.to_tensor(image), "ypr": torch.as_tensor(ypr, dtype=torch.float32),
                "index": int(self.indices[position]), "position": position}
        if self.extra is not None:
            extra = np.array(self.extra[position], dtype=np.float32)
            if flipped:
                extra[self.extra_flip] = extra[self.extra_flip, ::-1]
            item["extra"] = torch.from_numpy(extra)
        return item
