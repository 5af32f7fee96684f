"""``searched.head``: a frozen backbone cut at a layer, with a head found by ``hpbench search``.

The backbone is any registered architecture (its name and config in ``backbone``); the head is the
decoded ``genome`` (hpbench.search.genome) on its ``in_channels`` features. Outputs are canonical
(yaw, pitch, roll) degrees. Preprocessing and resize kernel are the backbone's. The backbone's
modules that the pass to the cut never calls (a ResNet's later blocks and classifier) are dropped, so
that the model's parameters, memory and checkpoint hold only what it computes with.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from hpbench.errors import HpbenchError
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
        drop_unreached(self.backbone, self.trunk, input_size)
        self.head = SearchedHead(decode(genome), in_channels)
        self.resize_kernel = self.backbone.resize_kernel
        self.preprocessing = replace(self.backbone.preprocessing, input_size=input_size)
        for parameter in self.backbone.parameters():
            parameter.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self(images)


def drop_unreached(model: nn.Module, trunk: TrunkCut, input_size: int) -> None:
    """Replace by ``nn.Identity`` each outermost submodule of ``model`` that ``trunk``'s pass (one blank
    image of ``input_size`` pixels) neither calls nor reaches through a called descendant (a module
    whose parts its parent calls one by one, as a ResNet trunk's, is reached). The features must
    not change."""
    called: set[nn.Module] = set()
    hooks = [m.register_forward_pre_hook(lambda module, _: called.add(module)) for m in model.modules()]
    image = torch.zeros(1, 3, input_size, input_size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            before = trunk(image)
    finally:
        for hook in hooks:
            hook.remove()
    reached = {""}
    for name, module in model.named_modules():
        if module in called:
            parts = name.split(".")
            reached.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))

    def prune(parent: nn.Module, prefix: str) -> None:
        for name, child in list(parent.named_children()):
            if prefix + name not in reached:
                setattr(parent, name, nn.Identity())
            else:
                prune(child, f"{prefix}{name}.")

    prune(model, "")
    try:
        with torch.no_grad():
            same = torch.equal(trunk(image), before)
    except (AttributeError, TypeError, RuntimeError):  # a dropped module used otherwise than by a call
        same = False
    if not same:
        raise HpbenchError(f"{type(model).__name__}: its features at {trunk.layer} use modules its forward pass "
                           "does not call; it cannot be cut there")
    model.train(was_training)


@register_model("searched.head")
def searched_head(backbone: dict, layer: str, genome: list, in_channels: int, input_size: int = 224,
                  pretrained: str | None = None) -> SearchedHeadModel:
    return SearchedHeadModel(backbone, layer, genome, in_channels, input_size)
