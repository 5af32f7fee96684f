"""Self-supervised pretext tasks on a crop, with exact labels (HMTL, Pourmirzaei et al., seed 000 §3).

The crop is cut into n × n square tiles of t = ⌊size / n⌋ pixels. When n does not divide the size
(224 with 3 × 3: t = 74, 2 pixels left) the tiled square is centred and the leftover rows and columns
(⌊r / 2⌋ before it, the rest after it) stay where they are, untouched. Regions are numbered row by
row, 0 … n² − 1.

* ``puzzle``: the tiles are shuffled by a uniform random permutation; ``position[j]`` is the original
  number of the tile now at region j (n² classes).
* ``rotation``: every tile is turned by k · 90° counter-clockwise, k uniform in {0, 1, 2, 3};
  ``rotation[j]`` is k of the tile at region j (4 classes).
* ``puzzle-rotation``: a permutation, then two regions drawn at random have their tile turned by
  k ∈ {0 … 3} (so at most two tiles are turned); the other regions' rotation label is 0.

``PretextTargets`` wraps a training Dataset: each item's uint8 image is replaced by the transformed
one and its labels added, drawn from a generator seeded by (seed, epoch, sample), so a run is
reproducible and every epoch sees new shuffles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from hpbench.errors import HpbenchError

TASKS = ("puzzle", "rotation", "puzzle-rotation")


@dataclass(frozen=True)
class Pretext:
    task: str
    grid: int

    def __post_init__(self):
        if self.task not in TASKS:
            raise HpbenchError(f"pretext task {self.task!r}: one of {', '.join(TASKS)}")
        if not (isinstance(self.grid, int) and 2 <= self.grid <= 8):
            raise HpbenchError(f"pretext grid {self.grid!r}: an integer from 2 to 8 (2 for 2×2, 3 for 3×3)")

    @property
    def regions(self) -> int:
        return self.grid * self.grid

    @property
    def heads(self) -> dict[str, int]:
        """The classifier each region has, and its class count."""
        heads = {}
        if "puzzle" in self.task:
            heads["position"] = self.regions
        if "rotation" in self.task:
            heads["rotation"] = 4
        return heads

    def tiling(self, size: int) -> tuple[int, int]:
        """(tile side, offset of the tiled square) for a square crop of ``size`` pixels."""
        tile = size // self.grid
        if tile < 1:
            raise HpbenchError(f"a {size}-pixel crop cannot be cut into {self.grid}×{self.grid} tiles")
        return tile, (size - tile * self.grid) // 2

    def draw(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Labels for one image: ``position`` (n²,) and/or ``rotation`` (n²,), int64."""
        labels = {}
        permutation = rng.permutation(self.regions) if "puzzle" in self.task else np.arange(self.regions)
        if "puzzle" in self.task:
            labels["position"] = permutation.astype(np.int64)
        if self.task == "rotation":
            labels["rotation"] = rng.integers(0, 4, self.regions).astype(np.int64)
        elif self.task == "puzzle-rotation":
            turns = np.zeros(self.regions, np.int64)
            turns[rng.choice(self.regions, size=2, replace=False)] = rng.integers(0, 4, 2)
            labels["rotation"] = turns
        return labels

    def apply(self, image: torch.Tensor, labels: dict[str, np.ndarray]) -> torch.Tensor:
        """The image (C, S, S) with region j holding tile ``position[j]`` turned ``rotation[j]`` times."""
        tiles, tile, offset = self._tiles(image)
        order = labels.get("position", np.arange(self.regions))
        turns = labels.get("rotation", np.zeros(self.regions, np.int64))
        placed = [torch.rot90(tiles[int(order[j])], int(turns[j]), dims=(1, 2)) for j in range(self.regions)]
        return self._paste(image, placed, tile, offset)

    def undo(self, image: torch.Tensor, labels: dict[str, np.ndarray]) -> torch.Tensor:
        """The original image back from a transformed one and its labels (the test of exactness)."""
        tiles, tile, offset = self._tiles(image)
        order = labels.get("position", np.arange(self.regions))
        turns = labels.get("rotation", np.zeros(self.regions, np.int64))
        restored = [None] * self.regions
        for j in range(self.regions):
            restored[int(order[j])] = torch.rot90(tiles[j], -int(turns[j]), dims=(1, 2))
        return self._paste(image, restored, tile, offset)

    def _tiles(self, image: torch.Tensor):
        if image.ndim != 3 or image.shape[1] != image.shape[2]:
            raise HpbenchError(f"pretext tasks take a square (C, S, S) crop, not {tuple(image.shape)}")
        tile, offset = self.tiling(image.shape[1])
        tiles = [image[:, offset + r * tile: offset + (r + 1) * tile, offset + c * tile: offset + (c + 1) * tile]
                 for r in range(self.grid) for c in range(self.grid)]
        return tiles, tile, offset

    def _paste(self, image: torch.Tensor, tiles, tile: int, offset: int) -> torch.Tensor:
        out = image.clone()
        for j, content in enumerate(tiles):
            r, c = divmod(j, self.grid)
            out[:, offset + r * tile: offset + (r + 1) * tile, offset + c * tile: offset + (c + 1) * tile] = content
        return out


class PretextTargets(Dataset):
    """A training Dataset whose items hold the pretext-transformed image and its labels
    (``pretext_position``, ``pretext_rotation``: (n²,) int64)."""

    STREAM = 7  # the generator's last seed word: independent of the augmentation's (seed, epoch, sample)

    def __init__(self, dataset, pretext: Pretext, seed: int = 0):
        self.dataset, self.pretext, self.seed, self.epoch = dataset, pretext, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int) -> dict:
        item = self.dataset[position]
        labels = self.pretext.draw(np.random.default_rng([self.seed, self.epoch, position, self.STREAM]))
        item["image"] = self.pretext.apply(item["image"], labels)
        item.update({f"pretext_{name}": torch.from_numpy(value) for name, value in labels.items()})
        return item
