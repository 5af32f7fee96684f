"""``searched.head``: a frozen backbone cut at a layer, with a head found by ``hpbench search``.

The backbone is any registered architecture (its name and config in ``backbone``); the head is the
decoded ``genome`` (hpbench.search.genome) on its ``in_channels`` features. Outputs are canonical
(yaw, pitch, roll) degrees. Preprocessing and resize kernel are the backbone's.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from hpbench.models import create_model, register_model
from hpbench.models.base import HeadPoseModel
from hpbench.search.features import TrunkCut
from hpbench.search.genome import decode
from hpbench.search.heads import SearchedHead


class SearchedHeadModel(HeadPoseModel):
    convention = "hpbench"

    def __init__(self, backbone: dict, layer: str, genome: list, in_channels: int, input_size: int = 224):
        super().__init__(input_size)
        self.backbone = create_model(backbone["arch"], **dict(backbone.get("config", {})))
        self.trunk = TrunkCut(self.backbone, layer)
        self.head = SearchedHead(decode(genome), in_channels)
        self.resize_kernel = self.backbone.resize_kernel
        self.preprocessing = replace(self.backbone.preprocessing, input_size=input_size)
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self(images)


@register_model("searched.head")
def searched_head(backbone: dict, layer: str, genome: list, in_channels: int, input_size: int = 224,
                  pretrained: str | None = None) -> SearchedHeadModel:
    return SearchedHeadModel(backbone, layer, genome, in_channels, input_size)
