"""KD (Sheka & Samun, seed 001): the stage-2 student with one RvC head of 1° bins.

The module layout equals kd_oe_hpe's, so its released state dicts load as they are:
``encoder_net.model.*`` (a torchvision ResNet without fc / avgpool) and ``head_net.{pitch,yaw,roll}``
(``Linear(C, 198)`` after average pooling). Outputs are in KD's convention: [pitch, yaw, roll] with
pitch negated (hpbench.pose convention ``kd``); decoding is the softmax expectation over the bin
centres −98.5 … 98.5.
"""

from __future__ import annotations

import torch
from torch import nn

from hpbench.models import register_model
from hpbench.models.backbones import RESNET_DEPTHS, ResNetTrunk
from hpbench.models.base import HeadPoseModel
from hpbench.models.heads import RvCHead

THETA = 99.0


class KDStudent(HeadPoseModel):
    convention = "kd"

    def __init__(self, depth: int = 18, pretrained: str | None = None, input_size: int = 224):
        super().__init__(input_size)
        self.encoder_net = ResNetTrunk(depth, pretrained)
        self.head_net = RvCHead(self.encoder_net.out_features, bin_size=1.0, theta=THETA)
        self.pool = nn.AdaptiveAvgPool2d(1)  # KD's AvgPool2d(7) at 224 px, any input size here

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.encoder_net(images)), 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 3, 198) for [pitch, yaw, roll]."""
        return self.head_net(self.features(images))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.head_net.decode(self.forward(images))


def _student(depth: int):
    def factory(**config) -> KDStudent:
        return KDStudent(depth=depth, **config)

    factory.__doc__ = f"KD student, ResNet-{depth} (seed 001)."
    return factory


for _depth in RESNET_DEPTHS:
    register_model(f"kd_student.resnet{_depth}")(_student(_depth))
