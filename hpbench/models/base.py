"""The interface every registered head-pose model offers."""

from __future__ import annotations

import torch
from torch import nn

from hpbench.data import Preprocessing


class HeadPoseModel(nn.Module):
    """``forward(images)`` → raw outputs; ``predict(images)`` → angles in ``self.convention``."""

    convention = "hpbench"
    arch = ""
    config: dict = {}

    def __init__(self, input_size: int = 224):
        super().__init__()
        self.preprocessing = Preprocessing(input_size=input_size)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
