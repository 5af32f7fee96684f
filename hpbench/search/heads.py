"""The searched head as a torch module, and what it costs (parameters, FLOPs, memory).

Head: 1×1 convolution to the stem's channels, the six decoded blocks, global average pooling, a
dense layer of 128, and three outputs (yaw, pitch, roll in degrees, hpbench's convention). Every
convolution is followed by BatchNorm; PReLU is the activation. Padding is k // 2, so any feature map
of at least 1 × 1 pixel goes through (a stride-2 block on a 1 × 1 map keeps it 1 × 1).
"""

from __future__ import annotations

import torch
from torch import nn

from hpbench.search.genome import Architecture, Block

HIDDEN = 128
EXPANSION = 6  # inverted residual: MobileNetV2's expansion factor


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.PReLU(c_out)) if act else nn.Sequential(*layers)


class _Shortcut(nn.Module):
    """The identity, or a strided 1×1 projection where the block changes the shape."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.project = _conv(c_in, c_out, 1, stride, act=False) if (c_in != c_out or stride != 1) else None

    def forward(self, x):
        return x if self.project is None else self.project(x)


class ResidualBlock(nn.Module):
    """ResNet's basic block: k×k (stride s), k×k, plus the shortcut, then PReLU."""

    def __init__(self, c_in: int, block: Block):
        super().__init__()
        self.body = nn.Sequential(_conv(c_in, block.channels, block.kernel, block.stride),
                                  _conv(block.channels, block.channels, block.kernel, act=False))
        self.shortcut, self.act = _Shortcut(c_in, block.channels, block.stride), nn.PReLU(block.channels)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class IdentityBlock(nn.Module):
    """ResNet's bottleneck ("identity block" in Keras' ResNet50): 1×1 to half the channels (at least
    4), k×k (stride s), 1×1 back, plus the shortcut, then PReLU."""

    def __init__(self, c_in: int, block: Block):
        super().__init__()
        middle = max(block.channels // 2, 4)
        self.body = nn.Sequential(_conv(c_in, middle, 1), _conv(middle, middle, block.kernel, block.stride),
                                  _conv(middle, block.channels, 1, act=False))
        self.shortcut, self.act = _Shortcut(c_in, block.channels, block.stride), nn.PReLU(block.channels)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class InvertedResidualBlock(nn.Module):
    """MobileNetV2's block: 1×1 expansion (×6), depthwise k×k (stride s), linear 1×1 projection; the
    input is added where the shape is kept."""

    def __init__(self, c_in: int, block: Block):
        super().__init__()
        wide = c_in * EXPANSION
        self.body = nn.Sequential(_conv(c_in, wide, 1), _conv(wide, wide, block.kernel, block.stride, groups=wide),
                                  _conv(wide, block.channels, 1, act=False))
        self.residual = block.stride == 1 and c_in == block.channels

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class DepthwiseSeparableBlock(nn.Module):
    """MobileNet's block: depthwise k×k (stride s), then pointwise 1×1."""

    def __init__(self, c_in: int, block: Block):
        super().__init__()
        self.body = nn.Sequential(_conv(c_in, c_in, block.kernel, block.stride, groups=c_in),
                                  _conv(c_in, block.channels, 1))

    def forward(self, x):
        return self.body(x)


BLOCK_MODULES = {"residual": ResidualBlock, "identity": IdentityBlock, "inverted_residual": InvertedResidualBlock,
                 "depthwise_separable": DepthwiseSeparableBlock}


class SearchedHead(nn.Module):
    """Features (N, C, H, W) → (N, 3) yaw, pitch, roll."""

    def __init__(self, architecture: Architecture, in_channels: int):
        super().__init__()
        self.architecture = architecture
        layers, channels = [_conv(in_channels, architecture.stem_channels, 1)], architecture.stem_channels
        for block in architecture.blocks:
            layers.append(BLOCK_MODULES[block.kind](channels, block))
            channels = block.channels
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dense = nn.Sequential(nn.Linear(channels, HIDDEN), nn.PReLU(HIDDEN), nn.Linear(HIDDEN, 3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.flatten(self.pool(self.blocks(features)), 1))

    def weights(self) -> list[torch.Tensor]:
        """The convolution and dense kernels: what the L2 penalty covers (Keras' kernel_regularizer)."""
        return [m.weight for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def head_cost(head: nn.Module, feature_shape: tuple[int, int, int]) -> dict:
    """Parameters, MFLOPs of one sample's forward pass (torch's counter: a multiply-add is 2 FLOPs)
    and the memory footprint in MB (parameters and buffers as float32, 2^20 bytes per MB)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = head.training
    head.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        head(torch.zeros(1, *feature_shape))
    head.train(was_training)
    params = sum(p.numel() for p in head.parameters())
    buffers = sum(b.numel() for b in head.buffers() if b.dtype.is_floating_point)
    return {"params": params, "mflops": counter.get_total_flops() / 1e6, "memory_mb": (params + buffers) * 4 / 2**20}
