"""HopeNet (Ruiz et al. 2018): a ResNet with three RvC heads of 66 bins of 3° over [−99°, 99°].

Outputs (yaw, pitch, roll) in 3DDFA signs (convention ``hopenet``). Decoding is HopeNet's
expectation over the bins' left edges (``Σ softmax·idx·3 − 99``) by default, kept for compatibility
with its published numbers; ``decoding="centre"`` uses the bin centres.
"""

from __future__ import annotations

import torch
from torch import nn

from hpbench.models import register_model
from hpbench.models.backbones import RESNET_DEPTHS, ResNetTrunk
from hpbench.models.base import HeadPoseModel
from hpbench.models.heads import RvCHead

BIN_SIZE, THETA = 3.0, 99.0


class HopeNet(HeadPoseModel):
    convention = "hopenet"

    def __init__(self, depth: int = 50, pretrained: str | None = None, input_size: int = 224,
                 decoding: str = "left-edge"):
        super().__init__(input_size)
        self.backbone = ResNetTrunk(depth, pretrained)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = RvCHead(self.backbone.out_features, BIN_SIZE, THETA, angles=("yaw", "pitch", "roll"))
        self.decoding = decoding

    @property
    def rvc_head(self) -> RvCHead:
        return self.head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 3, 66) for (yaw, pitch, roll)."""
        return self.head(torch.flatten(self.pool(self.backbone(images)), 1))

    def rvc_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward(images)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.head.decode(self.forward(images), self.decoding)


def _factory(depth: int):
    def factory(**config) -> HopeNet:
        return HopeNet(depth=depth, **config)

    factory.__doc__ = f"HopeNet, ResNet-{depth} (Ruiz et al. 2018)."
    return factory


for _depth in RESNET_DEPTHS:
    register_model(f"hopenet.resnet{_depth}")(_factory(_depth))
