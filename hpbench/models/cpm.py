"""Convolutional Pose Machines (Wei et al., CVPR 2016), as CPM-SSL uses them (seed 002, §2.2).

``cpm.6stage``: input S × S (368 in the report), belief maps S/8 × S/8 (46), ``joints`` + 1 maps (the
last one of each stage is the background). Stage 1: three conv 9×9/128, each followed by a max-pool
3 stride 2 (padding 1, so 368 → 184 → 92 → 46: ports without the padding give 45 × 45), conv 5×5/32,
conv 9×9/512, conv 1×1/512, conv 1×1/(k+1). Stages ≥ 2: a shared trunk of the same three conv + pool
blocks, per stage a conv 5×5/32 on it, concatenated with the previous stage's maps and the centre map
(a Gaussian of σ 3 px at the crop's centre, average-pooled 9 / stride 8 as the CPM release pools it),
then 3 × conv 11×11/128, conv 1×1/128, conv 1×1/(k+1). ReLU after every conv but the outputs.

``forward`` returns the stack of every stage's maps (stages, N, k+1, S/8, S/8), for the loss summed
over stages; ``predict`` the joints of the last stage in input pixels (hpbench.data.bodypose
decodes and maps them back). ``width`` scales every channel count but the outputs (1 = the paper's;
the CPU proofs use less). The layers named in ``TRANSFER_LAYERS`` are what the report transfers from
the jigsaw pre-training; the ``changed`` ones differ in shape between the tasks and never transfer.
"""

from __future__ import annotations

import torch
from torch import nn

from hpbench.data.bodypose import decode_heatmaps
from hpbench.data.transforms import Preprocessing
from hpbench.models import register_model
from hpbench.models.base import PoseModel

CENTRE_SIGMA = 3.0  # pixels, the CPM release's centre map
# The CPM release's input: BGR, (value − 128) / 256 (lsp_lspet_data.py, LSP_Data.__getitem__)
CPM_PREPROCESSING = dict(mean=(128 / 255,) * 3, std=(256 / 255,) * 3, colour="bgr", resize_kernel="opencv-linear")


def _conv(inputs: int, outputs: int, kernel: int, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def _trunk(channels: int) -> nn.Sequential:
    """Three conv 9×9 + max-pool 3 / 2 blocks: stride 8."""
    blocks = []
    for inputs in (3, channels, channels):
        blocks += [_conv(inputs, channels, 9), nn.MaxPool2d(3, stride=2, padding=1)]
    return nn.Sequential(*blocks)


def centre_map(input_size: int, sigma: float = CENTRE_SIGMA) -> torch.Tensor:
    """(1, 1, S/8, S/8): the Gaussian at the crop's centre ((S − 1) / 2 in pixel centres), pooled 9 / 8."""
    grid = torch.arange(input_size, dtype=torch.float32) - (input_size - 1) / 2
    gaussian = torch.exp(-(grid[None, :] ** 2 + grid[:, None] ** 2) / (2 * sigma ** 2))
    return nn.functional.avg_pool2d(gaussian[None, None], 9, stride=8, padding=1)


class LaterStage(nn.Module):
    def __init__(self, trunk_channels: int, maps: int, width: float):
        super().__init__()
        reduced, hidden = round(32 * width), round(128 * width)
        self.reduce = _conv(trunk_channels, reduced, 5)
        self.first = _conv(reduced + maps + 1, hidden, 11)
        self.middle = nn.Sequential(_conv(hidden, hidden, 11), _conv(hidden, hidden, 11), _conv(hidden, hidden, 1))
        self.out = _conv(hidden, maps, 1, relu=False)

    def forward(self, trunk: torch.Tensor, previous: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        return self.out(self.middle(self.first(torch.cat([self.reduce(trunk), previous, centre], 1))))


class CPM(PoseModel):
    task = "bodypose"
    convention = "joints"
    backbone_attribute = "stage1"

    def __init__(self, joints: int = 14, stages: int = 6, input_size: int = 368, width: float = 1.0,
                 maps: int | None = None):
        super().__init__(input_size)
        if stages < 1:
            raise ValueError("CPM needs at least one stage")
        self.preprocessing = Preprocessing(input_size=input_size, **CPM_PREPROCESSING)
        self.joints, self.maps = joints, maps or joints + 1
        channels = round(128 * width)
        self.stage1 = nn.Sequential(_trunk(channels), _conv(channels, round(32 * width), 5),
                                    _conv(round(32 * width), round(512 * width), 9),
                                    _conv(round(512 * width), round(512 * width), 1))
        self.stage1_out = _conv(round(512 * width), self.maps, 1, relu=False)
        self.trunk = _trunk(channels) if stages > 1 else nn.Identity()
        self.stages = nn.ModuleList(LaterStage(channels, self.maps, width) for _ in range(stages - 1))

    @property
    def stride(self) -> int:
        return 8

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] % 8 or images.shape[-2] != images.shape[-1]:
            raise ValueError(f"CPM takes square inputs of a multiple of 8 pixels, not {tuple(images.shape[-2:])}")
        maps = self.stage1_out(self.stage1(images))
        outputs = [maps]
        if self.stages:
            trunk = self.trunk(images)
            centre = centre_map(images.shape[-1]).to(images).expand(len(images), -1, -1, -1)
            for stage in self.stages:
                maps = stage(trunk, maps, centre)
                outputs.append(maps)
        return torch.stack(outputs)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(N, k, 2) joint positions in input pixels: the argmax of each joint's last-stage map
        refined by a parabola through its neighbours (hpbench.data.bodypose.decode_heatmaps)."""
        return decode_heatmaps(self(images)[-1][:, : self.joints], self.stride)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The CPM release's four learning-rate groups (cpm_train.py, get_parameters): stage 1 and
        the shared trunk (weights ×1, biases ×2), the later stages (weights ×4, biases ×8)."""
        groups: dict[str, list[nn.Parameter]] = {"early_weights": [], "early_biases": [], "stages_weights": [],
                                                 "stages_biases": []}
        for name, parameter in self.named_parameters():
            part = "stages" if name.startswith("stages.") else "early"
            groups[f"{part}_{'biases' if name.endswith('bias') else 'weights'}"].append(parameter)
        return groups


# What each transfer of the report (§4.2–4.4) copies from a jigsaw pre-training, as name prefixes.
# "middle": the shared image trunk of stages ≥ 2 (drawn between the input and the later stages in the
# report's Figure 4.3; the report names no layers). The 11 layers whose shapes depend on the map count
# (stage1_out, each later stage's first and out) are never copied.
TRANSFER_LAYERS = {
    "stage1": ("stage1.",),  # §4.3
    "stage1+middle": ("stage1.", "trunk."),  # §4.4
    "all": ("stage1.", "trunk.", "stages."),  # §4.2: every layer but the 11 that must change
}
CHANGED_LAYERS = ("stage1_out.", ".first.", ".out.")


def transferable(name: str, layers: str) -> bool:
    """Whether the report's transfer ``layers`` copies the tensor ``name`` (a key of the state dict)."""
    if layers not in TRANSFER_LAYERS:
        raise ValueError(f"transfer layers {layers!r}: one of {', '.join(TRANSFER_LAYERS)}")
    changed = any(part in f".{name}" for part in CHANGED_LAYERS)
    return not changed and name.startswith(TRANSFER_LAYERS[layers])


@register_model("cpm.6stage")
def cpm_6stage(joints: int = 14, stages: int = 6, input_size: int = 368, width: float = 1.0,
               maps: int | None = None, pretrained: str | None = None) -> CPM:
    model = CPM(joints, stages, input_size, width, maps)
    model.arch, model.config = "cpm.6stage", {"joints": joints, "stages": stages, "input_size": input_size,
                                              "width": width, "maps": maps}
    return model
