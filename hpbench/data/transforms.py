"""What a model expects after the crop: input size, channel order and normalisation."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Square input size, the kernel that resizes the crop to it (hpbench.data.crops.RESIZE_KERNELS:
    "opencv-linear" or "pil-bilinear"), channel order ("rgb" or "bgr") and per-channel mean and std
    (of [0, 1] values): what a model family's authors fed it."""

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    colour: str = "rgb"
    resize_kernel: str = "opencv-linear"

    def to_uint8(self, image_bgr: np.ndarray) -> torch.Tensor:
        """A (3, H, W) uint8 tensor of a BGR uint8 crop, in the model's channel order: what a Dataset
        item holds (a quarter of the float bytes; ``normalise`` turns a batch of them into inputs)."""
        image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB) if self.colour == "rgb" else image_bgr
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """Float32 model inputs of a uint8 batch (B, 3, H, W) or image, on the tensor's device:
        (x / 255 − mean) / std per channel. On the CPU it is a look-up in the 256 values of that formula
        (the same bits, a third of the time)."""
        if images.dtype != torch.uint8:
            raise TypeError(f"normalise takes uint8 images (a Dataset item's), not {images.dtype}")
        if images.device.type == "cpu":
            return _look_up(images, _table(self.mean, self.std))
        return _formula(images, self.mean, self.std)

    def to_tensor(self, image_bgr: np.ndarray) -> torch.Tensor:
        """The (3, H, W) float32 model input of one BGR uint8 crop."""
        return self.normalise(self.to_uint8(image_bgr))


@functools.lru_cache(maxsize=16)
def _table(mean: tuple, std: tuple) -> np.ndarray:
    """(3, 256) float32: (v / 255 − mean[c]) / std[c] for every uint8 value v, as ``normalise`` computes it."""
    values = np.arange(256, dtype=np.float32) / np.float32(255.0)
    return np.stack([(values - np.float32(m)) / np.float32(s) for m, s in zip(mean, std)])


def _formula(images: torch.Tensor, mean: tuple, std: tuple) -> torch.Tensor:
    shape = (3, 1, 1)
    values = images.float().div_(255.0)
    values.sub_(torch.tensor(mean, dtype=torch.float32, device=images.device).view(shape))
    return values.div_(torch.tensor(std, dtype=torch.float32, device=images.device).view(shape))


def _look_up(images: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    planes = images.contiguous().numpy().reshape(-1, *images.shape[-2:])
    out = np.empty(planes.shape, np.float32)
    for i, plane in enumerate(planes):  # (… , 3, H, W): plane i is channel i % 3
        cv2.LUT(plane, table[i % 3], dst=out[i])
    return torch.from_numpy(out.reshape(images.shape))
