"""HMTL (Pourmirzaei, Montazer & Esmaili, seed 000): a ResNet whose supervised head-pose branch is
trained beside self-supervised pretext heads (puzzle, rotation, both) split off at a "flag point".

* Supervised branch: the ResNet, global average pooling, dropout, then HopeNet's heads (RvC over bins
  of 3° → 66, or 1° → 198, over ±99°; convention ``hopenet``) or, for ETH-XGaze, one regression layer
  to its own (pitch, yaw) in degrees (convention ``eth-xgaze``).
* Self-supervised branch, after ResNet block ``flag_point`` (1–4; the paper's best is 3): one ResNet
  bottleneck block with its skip connection, shared by the tasks; the feature map average-pooled to
  the n × n regions of the pretext grid; per region and task, dropout and one dense layer over the
  task's classes (softmax in the loss). The paper's "dense layer per image zone" is read as a dense
  layer on that zone's pooled features.
* ``pretext`` names the task the training data carries (hpbench.data.pretext); ``pretext_heads:
  false`` keeps the puzzled inputs and drops the heads (the paper's "HMTL w/o SSHs" ablation);
  ``pretext: null`` is the plain supervised network (SL).

``predict`` runs the supervised branch only: at test time an HMTL model is a plain head-pose model.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from hpbench.data.pretext import Pretext
from hpbench.errors import HpbenchError
from hpbench.models.backbones import ResNetTrunk, register_resnet_family
from hpbench.models.base import HeadPoseModel
from hpbench.models.heads import RvCHead, checked_decoding

THETA = 99.0
BLOCKS = ("layer1", "layer2", "layer3", "layer4")


class RegionHeads(nn.Module):
    """One dense layer per region: features (N, C, n, n) → logits (N, n², classes)."""

    def __init__(self, channels: int, regions: int, classes: int):
        super().__init__()
        bound = channels ** -0.5  # nn.Linear's default initialisation, per region
        self.weight = nn.Parameter(torch.empty(regions, channels, classes).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(regions, classes).uniform_(-bound, bound))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nrc,rck->nrk", torch.flatten(features, 2).transpose(1, 2), self.weight) + self.bias


class PretextBranch(nn.Module):
    """A bottleneck block with skip connection, pooling to the pretext grid, a dense layer per region
    and task."""

    def __init__(self, channels: int, pretext: Pretext, dropout: float):
        super().__init__()
        self.block = Bottleneck(channels, channels // 4)  # 4 × planes = channels: an identity skip
        self.pool = nn.AdaptiveAvgPool2d(pretext.grid)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: RegionHeads(channels, pretext.regions, classes)
                                    for name, classes in pretext.heads.items()})

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(self.pool(self.block(features)))
        return {name: head(pooled) for name, head in self.heads.items()}


class HMTL(HeadPoseModel):
    def __init__(self, depth: int = 50, pretrained: str | None = None, input_size: int = 224,
                 flag_point: int = 3, pretext: str | None = "puzzle", grid: int = 3, pretext_heads: bool = True,
                 head: str = "rvc", bin_size: float = 3.0, dropout: float = 0.5, pretext_dropout: float = 0.2,
                 decoding: str = "centre"):
        super().__init__(input_size)
        if flag_point not in (1, 2, 3, 4):
            raise HpbenchError(f"flag_point {flag_point!r}: after ResNet block 1, 2, 3 or 4")
        if head not in ("rvc", "regression"):
            raise HpbenchError(f"head {head!r}: rvc (HopeNet's bins) or regression (ETH-XGaze's pitch, yaw)")
        self.backbone = ResNetTrunk(depth, pretrained)
        self.flag_point, self.head_kind, self.decoding = flag_point, head, checked_decoding(decoding)
        self.pretext = Pretext(pretext, grid) if pretext else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        features = self.backbone.out_features
        if head == "rvc":
            self.head = RvCHead(features, bin_size, THETA, angles=("yaw", "pitch", "roll"))
            self.convention = "hopenet"
        else:
            self.head = nn.Linear(features, 2)
            self.convention = "eth-xgaze"
        channels = getattr(self.backbone.model, BLOCKS[flag_point - 1])[-1]
        channels = (channels.conv3 if hasattr(channels, "conv3") else channels.conv2).out_channels
        self.pretext_branch = (PretextBranch(channels, self.pretext, pretext_dropout)
                               if self.pretext and pretext_heads else None)

    @property
    def rvc_head(self) -> RvCHead | None:
        return self.head if self.head_kind == "rvc" else None

    def training_transform(self) -> Pretext | None:
        """The pretext transform the training data must carry (hpbench train wraps the training set)."""
        return self.pretext

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``pose``: RvC logits (N, 3, bins) or (pitch, yaw) (N, 2); in training mode with pretext
        heads also ``position`` / ``rotation`` logits (N, n², classes)."""
        x, outputs = self._stem(images), {}
        for number, name in enumerate(BLOCKS, start=1):
            x = getattr(self.backbone.model, name)(x)
            if number == self.flag_point and self.pretext_branch is not None and self.training:
                outputs.update(self.pretext_branch(x))
        outputs["pose"] = self.head(self.dropout(torch.flatten(self.pool(x), 1)))
        return outputs

    def pretext_logits(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The pretext heads' logits in any mode (to measure what they learnt)."""
        if self.pretext_branch is None:
            raise HpbenchError(f"{self.arch or 'this HMTL'} has no pretext heads")
        x = self._stem(images)
        for name in BLOCKS[:self.flag_point]:
            x = getattr(self.backbone.model, name)(x)
        return self.pretext_branch(x)

    def _stem(self, images: torch.Tensor) -> torch.Tensor:
        m = self.backbone.model
        return m.maxpool(m.relu(m.bn1(m.conv1(images))))

    def rvc_logits(self, images: torch.Tensor) -> torch.Tensor:
        if self.rvc_head is None:
            return super().rvc_logits(images)
        return self.forward(images)["pose"]

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        pose = self.forward(images)["pose"]
        return self.head.decode(pose, self.decoding) if self.rvc_head is not None else pose


register_resnet_family("hmtl", HMTL, "HMTL (Pourmirzaei et al., seed 000)")


def pretext_accuracy(model: HMTL, dataset, device: str = "cpu", batch_size: int = 64,
                     seed: int = 0) -> dict[str, float]:
    """Per task, the fraction of regions whose pretext label the heads get right, on ``dataset``'s
    crops transformed with labels seeded by ``seed`` (chance: 1 / n² for positions, ≈ 1 / 4 for
    rotations)."""
    from torch.utils.data import DataLoader

    from hpbench.data.pretext import PretextTargets

    loader = DataLoader(PretextTargets(dataset, model.pretext, seed), batch_size=batch_size)
    right, total = {}, {}
    model.eval()
    with torch.inference_mode():
        for batch in loader:
            images = dataset.preprocessing.normalise(batch["image"].to(device))
            for name, logits in model.pretext_logits(images).items():
                hits = (logits.argmax(-1).cpu() == batch[f"pretext_{name}"]).sum().item()
                right[name] = right.get(name, 0) + hits
                total[name] = total.get(name, 0) + batch[f"pretext_{name}"].numel()
    return {name: right[name] / total[name] for name in right}
