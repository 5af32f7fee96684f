"""KD's convolutional ensemble: average the softmax of one RvC model over shifted crops.

The image is scaled so that the face box maps to the model's input size S and cut with a margin of
``pad`` pixels (a crop of S + 2·pad, see hpbench.data.expand_box); the ensemble members are the
S×S windows at offsets 0, stride, 2·stride … 2·pad in each direction: A = (2·pad / stride + 1)²
crops. Each offset is one batched forward pass, so A = 49 costs 49 forward passes and nothing more.
With pad = 0 it is the single model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from hpbench.errors import HpbenchError


@dataclass(frozen=True)
class EnsembleSpec:
    pad: int
    stride: int

    def __post_init__(self):
        if self.pad < 0 or self.stride < 1 or (2 * self.pad) % self.stride:
            raise HpbenchError(f"ensemble p={self.pad}, s={self.stride}: need p ≥ 0, s ≥ 1 and 2p divisible by s")

    @classmethod
    def parse(cls, text: str) -> "EnsembleSpec":
        """'p=15,s=5' → EnsembleSpec(15, 5)."""
        match = re.fullmatch(r"\s*p\s*=\s*(\d+)\s*,\s*s\s*=\s*(\d+)\s*", text)
        if not match:
            raise HpbenchError(f"--ensemble {text!r}: expected p=PAD,s=STRIDE, e.g. p=15,s=5")
        return cls(int(match[1]), int(match[2]))

    @property
    def offsets(self) -> list[int]:
        return list(range(0, 2 * self.pad + 1, self.stride))

    @property
    def size(self) -> int:
        return len(self.offsets) ** 2


def ensemble_probabilities(model, images: torch.Tensor, spec: EnsembleSpec) -> torch.Tensor:
    """Mean softmax probabilities (N, 3, bins) over the A windows of padded crops (N, 3, S+2p, S+2p)."""
    size = images.shape[-1] - 2 * spec.pad
    total = None
    for dy in spec.offsets:
        for dx in spec.offsets:
            window = images[:, :, dy:dy + size, dx:dx + size].contiguous()
            probabilities = torch.softmax(model.rvc_logits(window), dim=-1)
            total = probabilities if total is None else total + probabilities
    return total / spec.size


class EnsemblePredictor:
    """``predict`` for evaluation: angles in the model's convention from the ensemble's probabilities."""

    def __init__(self, model, spec: EnsembleSpec):
        if getattr(model, "rvc_head", None) is None:
            raise HpbenchError("--ensemble needs a model with an RvC head (kd_base, kd_student, hopenet)")
        self.model, self.spec = model, spec

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.decode_probabilities(ensemble_probabilities(self.model, images, self.spec))
