"""6DRepNet (Hempel, Abdelrahman, Al-Hamadi 2022): a RepVGG backbone and one linear layer to a 6-D
rotation representation, made a rotation matrix by Gram–Schmidt (convention ``6drepnet``).

The module names are the authors' (thohemp/6DRepNet sixdrepnet/model.py ``SixDRepNet``: ``layer0`` …
``layer4`` from RepVGG's ``stage0`` … ``stage4``, ``linear_reg``; sixdrepnet/backbone/repvgg.py
``RepVGGBlock``: ``rbr_dense``, ``rbr_1x1``, ``rbr_identity`` while training, ``rbr_reparam`` once
fused), so both of its released forms load as they are: the multi-branch training state dict, and
the fused deploy one (``adopt_state_dict`` fuses the model first). Its test crop is HopeNet's
AFLW2000 box with torchvision's Resize(256) + CenterCrop(224) on PIL images (crop rule
``sixdrepnet-aflw2000``, kernel ``pil-bilinear``), RGB, ImageNet mean and std.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from torch import nn

from hpbench.errors import HpbenchError
from hpbench.models import register_model
from hpbench.models.base import HeadPoseModel
from hpbench.models.checkpoint import read_torch_file

# RepVGG variants (Ding et al. 2021): blocks per stage 1–4, width multipliers, grouped layers
VARIANTS = {
    "a0": ((2, 4, 14, 1), (0.75, 0.75, 0.75, 2.5), 1),
    "b1": ((4, 6, 16, 1), (2, 2, 2, 4), 1),
    "b1g2": ((4, 6, 16, 1), (2, 2, 2, 4), 2),
}


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int, groups: int) -> nn.Sequential:
    layers = nn.Sequential()
    layers.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                                        bias=False))
    layers.add_module("bn", nn.BatchNorm2d(out_channels))
    return layers


def _fold(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A convolution kernel followed by BatchNorm (eval) as one kernel and bias."""
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    """3×3 conv-BN + 1×1 conv-BN (+ BN identity where shapes allow), summed, ReLU; or, fused, one 3×3
    convolution with bias."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.in_channels, self.groups = in_channels, groups
        self.nonlinearity = nn.ReLU()
        self.rbr_identity = nn.BatchNorm2d(in_channels) if in_channels == out_channels and stride == 1 else None
        self.rbr_dense = _conv_bn(in_channels, out_channels, 3, stride, groups)
        self.rbr_1x1 = _conv_bn(in_channels, out_channels, 1, stride, groups)

    @property
    def fused(self) -> bool:
        return hasattr(self, "rbr_reparam")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self.nonlinearity(self.rbr_reparam(x))
        out = self.rbr_dense(x) + self.rbr_1x1(x)
        return self.nonlinearity(out if self.rbr_identity is None else out + self.rbr_identity(x))

    @torch.no_grad()
    def fuse(self) -> None:
        """Replace the branches by the one 3×3 convolution they add up to (RepVGG's re-parameterisation)."""
        if self.fused:
            return
        kernel, bias = _fold(self.rbr_dense.conv.weight, self.rbr_dense.bn)
        one, one_bias = _fold(self.rbr_1x1.conv.weight, self.rbr_1x1.bn)
        kernel, bias = kernel + nn.functional.pad(one, [1, 1, 1, 1]), bias + one_bias
        if self.rbr_identity is not None:
            per_group = self.in_channels // self.groups
            identity = torch.zeros(self.in_channels, per_group, 3, 3, dtype=kernel.dtype, device=kernel.device)
            identity[torch.arange(self.in_channels), torch.arange(self.in_channels) % per_group, 1, 1] = 1
            identity, identity_bias = _fold(identity, self.rbr_identity)
            kernel, bias = kernel + identity, bias + identity_bias
        dense = self.rbr_dense.conv
        self.rbr_reparam = nn.Conv2d(dense.in_channels, dense.out_channels, 3, dense.stride, 1, groups=dense.groups,
                                     bias=True)
        self.rbr_reparam.weight.copy_(kernel)
        self.rbr_reparam.bias.copy_(bias)
        del self.rbr_dense, self.rbr_1x1, self.rbr_identity


def rotation_from_6d(values: torch.Tensor) -> torch.Tensor:
    """(N, 6) → (N, 3, 3): columns x = a / |a|, z = x × b / |x × b|, y = z × x (a, b: the two halves;
    norms at least 1e-8), as 6DRepNet's compute_rotation_matrix_from_ortho6d."""
    def unit(v):
        return v / v.norm(dim=1, keepdim=True).clamp_min(1e-8)

    x = unit(values[:, 0:3])
    z = unit(torch.cross(x, values[:, 3:6], dim=1))
    y = torch.cross(z, x, dim=1)
    return torch.stack([x, y, z], dim=2)


class SixDRepNet(HeadPoseModel):
    convention = "6drepnet"
    resize_kernel = "pil-bilinear"  # torchvision transforms on PIL images (sixdrepnet/test.py)

    def __init__(self, variant: str = "b1g2", input_size: int = 224, pretrained: str | None = None):
        super().__init__(input_size)
        self.variant = variant
        blocks, widths, groups = VARIANTS[variant]
        channels = min(64, int(64 * widths[0]))
        self.layer0 = RepVGGBlock(3, channels, stride=2)
        index = 1  # RepVGG numbers its blocks from stage 1's first; the even ones are grouped
        for stage, (count, width) in enumerate(zip(blocks, widths), start=1):
            out_channels, layers = int(64 * 2 ** (stage - 1) * width), []
            for block in range(count):
                layers.append(RepVGGBlock(channels, out_channels, 2 if block == 0 else 1,
                                          groups if index % 2 == 0 else 1))
                channels, index = out_channels, index + 1
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.linear_reg = nn.Linear(channels, 6)
        if pretrained:
            self._load_repvgg(pretrained)

    def _load_repvgg(self, path) -> None:
        """RepVGG's ImageNet weights in its training form (e.g. RepVGG-B1g2-train.pth), its ``stageN``
        as ``layerN`` and its classifier left out, as 6DRepNet's model.py takes them."""
        state = read_torch_file(path) if Path(path).is_file() else None
        if not isinstance(state, dict):
            raise HpbenchError(f"--pretrained {path}: not a RepVGG state dict file (hpbench never downloads weights)")
        state = {re.sub(r"^stage(\d)", r"layer\1", k): v for k, v in state.get("state_dict", state).items()
                 if k.startswith("stage")}
        own = self.state_dict()
        wrong = [k for k, v in state.items() if k not in own or getattr(v, "shape", None) != own[k].shape]
        if not state or wrong:
            raise HpbenchError(f"--pretrained {path}: does not fit RepVGG-{self.variant.upper()} "
                               f"({'no stage tensors' if not state else f'e.g. {wrong[0]}'})")
        self.load_state_dict(state, strict=False)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        head = {id(p) for p in self.linear_reg.parameters()}
        return {"backbone": [p for p in self.parameters() if id(p) not in head],
                "heads": list(self.linear_reg.parameters())}

    def fuse(self) -> "SixDRepNet":
        """The deploy form: every block one 3×3 convolution (the same function, in eval mode)."""
        for module in self.modules():
            if isinstance(module, RepVGGBlock):
                module.fuse()
        return self

    def adopt_state_dict(self, state: dict) -> dict:
        """A fused (deploy) state dict is taken by fusing this model first."""
        if any(".rbr_reparam." in key for key in state):
            self.fuse()
        return state

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Rotation matrices (N, 3, 3)."""
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.layer0(images)))))
        return rotation_from_6d(self.linear_reg(torch.flatten(self.gap(x), 1)))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward(images)


for _variant in VARIANTS:
    register_model(f"sixdrepnet.repvgg_{_variant}")(functools.partial(SixDRepNet, variant=_variant))
