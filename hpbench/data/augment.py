"""Training augmentation with pose correction (Sheka & Samun, Boosting of Head Pose Estimation by
Knowledge Distillation, §4.3).

An optional random window (HopeNet's Resize(240) + RandomCrop(224)) comes first; then the
augmentations that change the pose — a horizontal flip (p = 0.5: yaw and roll change sign; then
HopeNet's PIL blur with probability ``blur``) and an in-plane rotation in [−15°, 15°] (the pose
recomputed through its rotation matrix) — then, if ``colour`` is on, the ones that do not, in KD's order: with p = 0.5 one of hue/saturation/value
jitter, CLAHE, equalisation or solarisation; with p = 0.5 a channel shuffle or a channel dropout; a
median blur with p = 0.5; with p = 0.5 a shadow or sensor noise; a coarse dropout with p = 0.5.
(KD uses Albumentations for the second group; these are OpenCV re-implementations of the same ideas.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageFilter

from hpbench.pose import flip_horizontal, rotate_in_plane


@dataclass(frozen=True)
class PoseAugmentation:
    flip: float = 0.5
    rotate: float = 15.0  # maximum in-plane rotation, degrees
    colour: bool = True
    crop_margin: int = 0  # crop this many pixels larger, then take a random window (HopeNet: 240 → 224 = 16)
    blur: float = 0.0  # probability of PIL's ImageFilter.BLUR after the flip (HopeNet and 6DRepNet: 0.05)

    def __call__(self, image: np.ndarray, ypr: np.ndarray, rng: np.random.Generator):
        """(image, ypr, flipped): the augmented BGR crop, its corrected canonical pose, whether it was mirrored."""
        if self.crop_margin:
            size = image.shape[0] - self.crop_margin
            top, left = (int(v) for v in rng.integers(0, self.crop_margin + 1, size=2))
            image = np.ascontiguousarray(image[top:top + size, left:left + size])
        flipped = bool(rng.uniform() < self.flip)
        if flipped:
            image, ypr = np.ascontiguousarray(image[:, ::-1]), flip_horizontal(ypr)
        if self.blur and rng.uniform() < self.blur:
            image = np.asarray(Image.fromarray(image).filter(ImageFilter.BLUR))
        if self.rotate > 0:
            angle = float(rng.uniform(-self.rotate, self.rotate))
            height, width = image.shape[:2]
            matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, 1.0)
            image = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT_101)
            ypr = rotate_in_plane(ypr, angle)
        if self.colour:
            image = colour_augment(image, rng)
        return image, np.asarray(ypr, np.float32), flipped


def _hsv_jitter(image, rng):
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + rng.integers(-10, 11)) % 180
    hsv[..., 1:] = np.clip(hsv[..., 1:] + rng.integers(-30, 31, size=2), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def _clahe(image, rng):
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=float(rng.uniform(1, 4)), tileGridSize=(8, 8)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def _equalise(image, rng):
    return np.stack([cv2.equalizeHist(np.ascontiguousarray(image[..., c])) for c in range(3)], axis=-1)


def _solarise(image, rng):
    return np.where(image >= 128, 255 - image, image).astype(np.uint8)


def _channel_shuffle(image, rng):
    return np.ascontiguousarray(image[..., rng.permutation(3)])


def _channel_dropout(image, rng):
    out = image.copy()
    out[..., rng.integers(3)] = 0
    return out


def _shadow(image, rng):
    height, width = image.shape[:2]
    x = np.sort(rng.integers(0, width, 2))
    out = image.copy()
    out[:, x[0]:x[1] + 1] = (out[:, x[0]:x[1] + 1] * rng.uniform(0.4, 0.8)).astype(np.uint8)
    return out


def _sensor_noise(image, rng):
    noise = rng.normal(0, rng.uniform(3, 12), image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def _coarse_dropout(image, rng):
    height, width = image.shape[:2]
    out = image.copy()
    for _ in range(int(rng.integers(1, 6))):
        h, w = int(rng.integers(1, max(2, height // 8))), int(rng.integers(1, max(2, width // 8)))
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        out[y:y + h, x:x + w] = 0
    return out


def _one_of(image, rng, options):
    return options[int(rng.integers(len(options)))](image, rng) if rng.uniform() < 0.5 else image


def colour_augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    image = _one_of(image, rng, (_hsv_jitter, _clahe, _equalise, _solarise))
    image = _one_of(image, rng, (_channel_shuffle, _channel_dropout))
    if rng.uniform() < 0.5:
        image = cv2.medianBlur(np.ascontiguousarray(image), 3)
    image = _one_of(image, rng, (_shadow, _sensor_noise))
    if rng.uniform() < 0.5:
        image = _coarse_dropout(image, rng)
    return image
