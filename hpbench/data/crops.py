"""Crop rules: a face box (x1, y1, x2, y2) → an integer region; the region is cut (padded with black
where it leaves the image, or clipped to it) and resized to the model's input size.

A rule is a name in a protocol or a recipe (``CROP_RULES``); its geometry is pure and tested with
exact numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from hpbench.errors import HpbenchError
from hpbench.registry import Registry


@dataclass(frozen=True)
class CropRule:
    name: str
    description: str
    region: Callable[[np.ndarray, tuple[int, int]], tuple[int, int, int, int]]
    pad: bool  # black outside the image (PIL's crop) instead of clipping
    resize: str  # "stretch" (aspect ratio not kept) or "shorter-side-centre-crop" (torchvision Resize + CenterCrop)
    random: bool = False  # region(box, image_hw, rng) draws from rng (training); without one, its mean
    oversize: float = 1.0  # shorter-side-centre-crop: the shorter side goes to size × oversize first (256 / 224)


CROP_RULES: Registry[CropRule] = Registry("crop rule")
RESIZE_KERNELS = ("opencv-linear", "pil-bilinear")


def kd_region(box, image_hw) -> tuple[int, int, int, int]:
    """KD: the box itself; x1, y1 clipped at 0, all corners truncated to int, x2, y2 clipped to the image."""
    height, width = image_hw
    x1, y1, x2, y2 = (float(v) for v in box)
    return max(0, int(x1)), max(0, int(y1)), min(width, max(0, int(x2))), min(height, max(0, int(y2)))


def _grown(box, left: float, top: float, right: float, bottom: float) -> tuple[int, int, int, int]:
    """The box grown side by side as HopeNet's datasets.py grows it — left, top, right, bottom, each by
    its factor of the width or height measured after the previous side grew — truncated to int."""
    x_min, y_min, x_max, y_max = (float(v) for v in box)
    x_min -= left * abs(x_max - x_min)
    y_min -= top * abs(y_max - y_min)
    x_max += right * abs(x_max - x_min)
    y_max += bottom * abs(y_max - y_min)
    return int(x_min), int(y_min), int(x_max), int(y_max)


def hopenet_aflw2000_region(box, image_hw, k: float = 0.2) -> tuple[int, int, int, int]:
    """HopeNet's AFLW2000 test crop (deep-head-pose code/datasets.py, AFLW2000.__getitem__): left, top
    and right grow by 2k, the bottom by 0.6k (PIL pads outside the image with black)."""
    return _grown(box, 2 * k, 2 * k, 2 * k, 0.6 * k)


def hopenet_300wlp_region(box, image_hw, rng: np.random.Generator | None = None) -> tuple[int, int, int, int]:
    """HopeNet's 300W-LP training crop (deep-head-pose code/datasets.py, Pose_300W_LP.__getitem__):
    k ~ U(0.2, 0.4) per sample (k = 0.3, its mean, without a generator); left and right grow by 0.6k,
    the top by 2k, the bottom by 0.6k."""
    k = 0.3 if rng is None else float(rng.random()) * 0.2 + 0.2
    return _grown(box, 0.6 * k, 2 * k, 0.6 * k, 0.6 * k)


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
    CropRule("hopenet-300wlp", "HopeNet's training crop of 300W-LP (k ~ U(0.2, 0.4)), resize + centre crop",
             hopenet_300wlp_region, True, "shorter-side-centre-crop", random=True),
    CropRule("sixdrepnet-aflw2000", "6DRepNet's AFLW2000 test crop: HopeNet's box, Resize(256) + CenterCrop(224)",
             hopenet_aflw2000_region, True, "shorter-side-centre-crop", oversize=256 / 224),
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


def checked_kernel(kernel: str) -> str:
    """``kernel`` if it is one of RESIZE_KERNELS; else a one-line error."""
    if kernel not in RESIZE_KERNELS:
        raise HpbenchError(f"resize kernel {kernel!r}: one of {', '.join(RESIZE_KERNELS)}")
    return kernel


def _scale(image: np.ndarray, width: int, height: int, kernel: str) -> np.ndarray:
    """Resize with a named kernel: OpenCV's bilinear (no antialiasing; KD's Albumentations) or PIL's
    (antialiased when shrinking; HopeNet's and 6DRepNet's torchvision transforms on PIL images)."""
    if kernel == "opencv-linear":
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    if kernel == "pil-bilinear":
        return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    raise ValueError(f"resize kernel must be one of {RESIZE_KERNELS}, got {kernel!r}")


def resize(crop: np.ndarray, size: int, mode: str, kernel: str = "opencv-linear", oversize: float = 1.0) -> np.ndarray:
    if mode == "stretch":
        return _scale(crop, size, size, kernel)
    height, width = crop.shape[:2]  # torchvision: the shorter side to `shorter`, then the centre square
    shorter = int(round(size * oversize))
    if height <= width:
        new_h, new_w = shorter, int(shorter * width / height)
    else:
        new_h, new_w = int(shorter * height / width), shorter
    scaled = _scale(crop, new_w, new_h, kernel)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return scaled[top:top + size, left:left + size]


def crop_image(image: np.ndarray, box, rule: str | CropRule, size: int, kernel: str = "opencv-linear",
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The crop of ``box`` by ``rule``, resized to ``size`` with ``kernel``; a random rule draws from ``rng``."""
    rule = CROP_RULES.get(rule) if isinstance(rule, str) else rule
    box, image_hw = np.asarray(box), image.shape[:2]
    region = rule.region(box, image_hw, rng) if rule.random else rule.region(box, image_hw)
    piece = cut(image, region, rule.pad)
    if piece.shape[0] == 0 or piece.shape[1] == 0:
        raise ValueError(f"crop rule {rule.name} gives an empty region for box {list(np.round(box, 2))}")
    return resize(np.ascontiguousarray(piece), size, rule.resize, kernel, rule.oversize)


def expand_box(box, input_size: int, pad: int) -> np.ndarray:
    """The box grown by ``pad`` input pixels on every side, for crops of input_size + 2·pad whose
    central input_size square is the box (convolutional ensembles)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = pad * (x2 - x1) / input_size, pad * (y2 - y1) / input_size
    return np.array([x1 - dx, y1 - dy, x2 + dx, y2 + dy])
