"""KD (Sheka & Samun, Boosting of Head Pose Estimation by Knowledge Distillation, §3): the stage-1
base network and the stage-2 student.

Outputs are in KD's convention: [pitch, yaw, roll] with pitch negated (hpbench.pose convention
``kd``); decoding is the softmax expectation over the 1° bins' centres −98.5 … 98.5.

The student's module layout equals kd_oe_hpe's, so its released state dicts load as they are:
``encoder_net.model.*`` (a torchvision ResNet without fc / avgpool) and ``head_net.{pitch,yaw,roll}``
(``Linear(C, 198)`` after average pooling).
"""

from __future__ import annotations

import torch
from torch import nn

from hpbench.models.backbones import ResNetTrunk, register_resnet_family
from hpbench.models.base import HeadPoseModel
from hpbench.models.heads import RegressionHead, RvCHead

THETA = 99.0
BASE_BIN_SIZES = (1, 2, 3, 4)


class _KDNetwork(HeadPoseModel):
    convention = "kd"
    backbone_attribute = "encoder_net"

    def __init__(self, depth: int, pretrained: str | None, input_size: int):
        super().__init__(input_size)
        self.encoder_net = ResNetTrunk(depth, pretrained)
        self.pool = nn.AdaptiveAvgPool2d(1)  # KD's AvgPool2d(7) at 224 px, any input size here

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.encoder_net(images)), 1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.rvc_head.decode(self.rvc_logits(images))


class KDBase(_KDNetwork):
    """Stage 1: one regression head θ·tanh and RvC heads of 1, 2, 3 and 4° bins over ±99°;
    predictions come from the 1° head."""

    def __init__(self, depth: int = 50, pretrained: str | None = None, input_size: int = 224,
                 bin_sizes: tuple[int, ...] = BASE_BIN_SIZES):
        super().__init__(depth, pretrained, input_size)
        features = self.encoder_net.out_features
        self.regression = RegressionHead(features, 3, THETA)
        self.rvc = nn.ModuleDict({str(size): RvCHead(features, float(size), THETA) for size in bin_sizes})

    @property
    def rvc_head(self) -> RvCHead:
        return self.rvc[str(min(int(size) for size in self.rvc))]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(images)
        outputs = {f"rvc{size}": head(features) for size, head in self.rvc.items()}
        outputs["regression"] = self.regression(features)
        return outputs

    def rvc_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.rvc_head(self.features(images))


class KDStudent(_KDNetwork):
    """Stage 2: one RvC head of 1° bins, any ResNet depth."""

    def __init__(self, depth: int = 18, pretrained: str | None = None, input_size: int = 224):
        super().__init__(depth, pretrained, input_size)
        self.head_net = RvCHead(self.encoder_net.out_features, bin_size=1.0, theta=THETA)

    @property
    def rvc_head(self) -> RvCHead:
        return self.head_net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 3, 198) for [pitch, yaw, roll]."""
        return self.head_net(self.features(images))

    def rvc_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward(images)


register_resnet_family("kd_base", KDBase, "KD base network (Sheka & Samun, Boosting of Head Pose Estimation by KD)")
register_resnet_family("kd_student", KDStudent, "KD student (Sheka & Samun, Boosting of Head Pose Estimation by KD)")
