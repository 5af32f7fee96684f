"""What a model expects after the crop: input size, channel order and normalisation."""

from __future__ import annotations

from dataclasses import dataclass

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

    def to_tensor(self, image_bgr: np.ndarray) -> torch.Tensor:
        """A (3, H, W) float32 tensor of a BGR uint8 crop."""
        image = image_bgr[..., ::-1] if self.colour == "rgb" else image_bgr
        array = (image.astype(np.float32) / 255.0 - np.float32(self.mean)) / np.float32(self.std)
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
