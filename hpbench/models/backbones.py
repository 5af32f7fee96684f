"""Backbones: torchvision ResNets without their classifier, optionally from a local ImageNet file."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from hpbench.errors import HpbenchError
from hpbench.models.checkpoint import read_torch_file

RESNET_DEPTHS = (18, 34, 50, 101, 152)


class ResNetTrunk(nn.Module):
    """A torchvision ResNet up to ``layer4`` (feature map out); ``model`` keeps torchvision's names,
    so state dicts read ``model.conv1.weight``, ``model.layer1.0.conv1.weight``, …"""

    def __init__(self, depth: int, pretrained: str | Path | None = None):
        super().__init__()
        if depth not in RESNET_DEPTHS:
            raise HpbenchError(f"ResNet depth must be one of {RESNET_DEPTHS}, got {depth}")
        self.model = getattr(torchvision.models, f"resnet{depth}")(weights=None)
        self.out_features = self.model.fc.in_features
        del self.model.fc, self.model.avgpool
        self.pretrained = load_imagenet_weights(self.model, pretrained) if pretrained else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(images))))
        return m.layer4(m.layer3(m.layer2(m.layer1(x))))


def register_resnet_family(family: str, cls, description: str) -> None:
    """Register ``family.resnet{18,34,50,101,152}``, each building ``cls(depth=…, **config)``."""
    from hpbench.models import register_model

    for depth in RESNET_DEPTHS:
        def factory(depth: int = depth, **config):
            return cls(depth=depth, **config)

        factory.__doc__ = f"{description}, ResNet-{depth}."
        factory.__wrapped__ = cls  # its keywords are cls's: recipes are checked against them (names and types)
        register_model(f"{family}.resnet{depth}")(factory)


def load_imagenet_weights(model: nn.Module, path: str | Path) -> str:
    """Load a torchvision ImageNet state dict (e.g. resnet50-0676ba61.pth) from a local file."""
    path = Path(path)
    if not path.is_file():
        raise HpbenchError(f"--pretrained {path}: no such file (hpbench never downloads weights)")
    state = read_torch_file(path)
    if not isinstance(state, dict):
        raise HpbenchError(f"{path}: not a state dict")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = model.state_dict()
    wrong = [k for k, v in state.items() if k in own and getattr(v, "shape", None) != own[k].shape]
    if wrong:
        raise HpbenchError(f"--pretrained {path}: its weights have other shapes than this ResNet's (e.g. {wrong[0]}: "
                           f"{tuple(state[wrong[0]].shape)} vs {tuple(own[wrong[0]].shape)}): a file for another depth? "
                           "Pass the ImageNet file of the recipe's own depth")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise HpbenchError(f"{path}: does not fit this ResNet (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return str(path)
