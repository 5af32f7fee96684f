"""HopeNet (Ruiz et al. 2018): a ResNet with three RvC heads of 66 bins of 3° over [−99°, 99°].

Outputs (yaw, pitch, roll) in 3DDFA signs (convention ``hopenet``). Decoding is HopeNet's
expectation over the bins' left edges (``Σ softmax·idx·3 − 99``) by default, kept for compatibility
with its published numbers; ``decoding="centre"`` uses the bin centres.

The authors' released snapshots (``hopenet_robust_alpha1.pkl`` …, deep-head-pose code/hopenet.py's
``Hopenet``: ``conv1``, ``bn1``, ``layer1``–``layer4``, ``fc_yaw``, ``fc_pitch``, ``fc_roll``, and in
some a ``fc_finetune`` its forward pass never uses) load as ``hopenet.resnet50`` through
``adopt_state_dict``: ``hpbench evaluate hopenet_robust_alpha1.pkl --arch hopenet.resnet50``.
"""

from __future__ import annotations

import torch
from torch import nn

from hpbench.models.backbones import ResNetTrunk, register_resnet_family
from hpbench.models.base import HeadPoseModel
from hpbench.models.heads import RvCHead, checked_decoding

BIN_SIZE, THETA = 3.0, 99.0


class HopeNet(HeadPoseModel):
    convention = "hopenet"
    resize_kernel = "pil-bilinear"  # torchvision transforms on PIL images (deep-head-pose code/test_hopenet.py)

    def __init__(self, depth: int = 50, pretrained: str | None = None, input_size: int = 224,
                 decoding: str = "left-edge", freeze_block_batchnorm: bool = False):
        super().__init__(input_size)
        self.backbone = ResNetTrunk(depth, pretrained)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = RvCHead(self.backbone.out_features, BIN_SIZE, THETA, angles=("yaw", "pitch", "roll"))
        self.decoding = checked_decoding(decoding)
        self.freeze_block_batchnorm = freeze_block_batchnorm

    def train(self, mode: bool = True) -> "HopeNet":
        """With ``freeze_block_batchnorm``, the BatchNorm layers named ``bn*`` inside ``layer1`` …
        ``layer4`` stay in eval mode while training, as HopeNet's training script leaves them
        (deep-head-pose code/train_hopenet.py, get_non_ignored_params calls .eval() on them; the stem's
        bn1 and the downsample BatchNorms are not named so and keep training)."""
        super().train(mode)
        if mode and self.freeze_block_batchnorm:
            for name, module in self.backbone.model.named_modules():
                if name.startswith("layer") and name.rsplit(".", 1)[-1].startswith("bn"):
                    module.eval()
        return self

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """"stem" (conv1, bn1: HopeNet trains them at learning rate 0), "backbone" (layer1–4), "heads"."""
        trunk = self.backbone.model
        stem = [*trunk.conv1.parameters(), *trunk.bn1.parameters()]
        groups = super().parameter_groups()
        taken = {id(p) for p in stem}
        return {"stem": stem, "backbone": [p for p in groups["backbone"] if id(p) not in taken],
                "heads": groups["heads"]}

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

    def adopt_state_dict(self, state: dict) -> dict:
        """The authors' key layout (``conv1.*``, ``layer*.*``, ``fc_yaw.*`` …) → hpbench's
        (``backbone.model.conv1.*`` …, ``head.yaw.*``); ``fc_finetune.*`` is dropped. Any other
        layout is returned as it is."""
        if not any(key.startswith("fc_yaw.") for key in state):
            return state
        adopted = {}
        for key, value in state.items():
            name, _, rest = key.partition(".")
            if name == "fc_finetune":
                continue
            if name in ("fc_yaw", "fc_pitch", "fc_roll"):
                adopted[f"head.{name[3:]}.{rest}"] = value
            else:
                adopted[f"backbone.model.{key}"] = value
        return adopted


register_resnet_family("hopenet", HopeNet, "HopeNet (Ruiz et al. 2018)")
