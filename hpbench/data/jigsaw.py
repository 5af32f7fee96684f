"""Jigsaw puzzles for CPM-SSL's pre-training (seed 002, §3): shuffled 3 × 3 tiles, heatmap-coded labels.

Each image's centre square (the middle of the image, its shorter side long) is resized to 3·t × 3·t
with t = ⌊(S − 2·gap) / 3⌋ and cut into 3 × 3 tiles; the tiles are laid out again on an S × S grey
canvas, ``gap`` pixels apart (5 in the report; the canvas's last S − 3t − 2·gap rows and columns stay
grey). The layout follows a permutation that moves every tile (a derangement): slot s holds the
tile from position ``perm[s]``, positions numbered row by row. Each image gives ``per_image``
puzzles (10 in the report), fixed by (seed, image, puzzle number).

Labels, heatmap-coded (the report's working variant, Table 3.4): slot s's map is a Gaussian of σ
cells (5) on the S/8 grid at the centre of position ``perm[s]``: (row, column) (8, 8), (8, 24),
(8, 39), (24, 8) … (39, 39) on the 46-cell grid (centres and σ scaled to other grids), plus a
background map. The
cross-entropy variant (``target = "index"``, §3.3.2, did not learn in the report) gives the
positions themselves; the loss reads each slot's logits at the nine centres
(hpbench.training.bodypose).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from hpbench.data.bodypose import PAD_VALUE, gaussian_map, grid_sigma
from hpbench.data.transforms import Preprocessing
from hpbench.format import HPFile

GRID = 3
REPORT_CENTRES = (8, 24, 39)  # Table 3.4 on the 46 × 46 grid, per row and per column
TARGETS = ("heatmap", "index")


def position_centres(cells: int) -> np.ndarray:
    """(9, 2) (row, column) grid cells of the nine positions: the report's on 46 cells, scaled otherwise."""
    line = [round(v * cells / 46) for v in REPORT_CENTRES]
    return np.array([(r, c) for r in line for c in line], dtype=np.float64)


def derangement(rng: np.random.Generator, n: int = GRID * GRID) -> np.ndarray:
    """A uniformly drawn permutation of n that moves every element (rejection sampling)."""
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm


def puzzle(image_bgr: np.ndarray, perm: np.ndarray, size: int, gap: int = 5) -> np.ndarray:
    """The S × S puzzle of one image: its centre square in 3 × 3 tiles, slot s holding tile perm[s]."""
    tile = (size - 2 * gap) // GRID
    height, width = image_bgr.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = cv2.resize(image_bgr[top: top + side, left: left + side], (GRID * tile, GRID * tile),
                        interpolation=cv2.INTER_AREA if side > GRID * tile else cv2.INTER_LINEAR)
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = PAD_VALUE
    for slot, source in enumerate(perm):
        sr, sc = divmod(int(source), GRID)
        r, c = divmod(slot, GRID)
        y, x = r * (tile + gap), c * (tile + gap)
        canvas[y: y + tile, x: x + tile] = square[sr * tile: (sr + 1) * tile, sc * tile: (sc + 1) * tile]
    return canvas


def position_heatmaps(perm: np.ndarray, cells: int, sigma: float = 5.0) -> np.ndarray:
    """(10, cells, cells) float32: slot s's Gaussian at position perm[s]'s centre, and a background map."""
    centres = position_centres(cells)
    maps = np.zeros((GRID * GRID + 1, cells, cells), np.float32)
    for slot, source in enumerate(perm):
        row, column = centres[source]
        maps[slot] = gaussian_map(cells, column, row, sigma)
    maps[-1] = 1 - maps[:-1].max(axis=0)
    return maps


def one_per_image(keys: Sequence[str]) -> np.ndarray:
    """Positions of the first sample of each image (MPII keys one person as ``<image>#<rect>``)."""
    seen: dict[str, int] = {}
    for position, key in enumerate(keys):
        seen.setdefault(str(key).split("#")[0], position)
    return np.array(sorted(seen.values()), dtype=np.intp)


class JigsawPuzzles(Dataset):
    """``per_image`` puzzles of each distinct image among the selected samples of one prepared file
    (labels of the file unused). An item: ``image`` (3, S, S) uint8, ``perm`` (9,) int64 (the
    cross-entropy variant's target), ``heatmaps`` (10, S/8, S/8) for ``target = "heatmap"``, ``index``."""

    def __init__(self, data: HPFile | str, indices: Sequence[int], preprocessing: Preprocessing, per_image: int = 10,
                 gap: int = 5, sigma: float = 5.0, seed: int = 0, target: str = "heatmap", stride: int = 8):
        if target not in TARGETS:
            raise ValueError(f"jigsaw target {target!r}: one of {', '.join(TARGETS)}")
        self.data = data if isinstance(data, HPFile) else HPFile(data)
        indices = np.asarray(indices, dtype=np.intp)
        self.images = indices[one_per_image(self.data.keys[indices])]
        self.preprocessing, self.per_image, self.gap, self.sigma = preprocessing, per_image, gap, sigma
        self.seed, self.target, self.stride = seed, target, stride

    def __len__(self) -> int:
        return len(self.images) * self.per_image

    def permutation(self, position: int) -> np.ndarray:
        image, number = divmod(position, self.per_image)
        return derangement(np.random.default_rng((self.seed, int(self.images[image]), number)))

    def __getitem__(self, position: int) -> dict:
        index = int(self.images[position // self.per_image])
        perm = self.permutation(position)
        size = self.preprocessing.input_size
        item = {"image": self.preprocessing.to_uint8(puzzle(self.data.image(index), perm, size, self.gap)),
                "perm": torch.from_numpy(perm.astype(np.int64)), "index": index}
        if self.target == "heatmap":
            cells = size // self.stride
            item["heatmaps"] = torch.from_numpy(position_heatmaps(perm, cells, grid_sigma(self.sigma, cells)))
        return item
