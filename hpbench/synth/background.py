"""Varied synthetic backgrounds: smooth colour fields, random shapes, texture and blur."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


@lru_cache(maxsize=8)
def _noise_tile(size: int) -> np.ndarray:
    """A fixed (size, size, 3) texture in [−1, 1]; the same in every process, so renders are repeatable."""
    rng = np.random.default_rng(20261122)
    fine = rng.uniform(-1, 1, (size, size, 3)).astype(np.float32)
    coarse = cv2.resize(rng.uniform(-1, 1, (size // 8, size // 8, 3)).astype(np.float32), (size, size))
    return np.clip(0.6 * fine + 0.8 * coarse, -1, 1)


def random_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A (height, width, 3) uint8 BGR background, a deterministic function of ``rng``'s state."""
    grid = rng.integers(2, 6, size=2)
    base = rng.uniform(0, 255, (grid[0], grid[1], 3)).astype(np.float32)
    image = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    scale = max(height, width)
    for _ in range(int(rng.integers(2, 10))):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        kind = rng.integers(3)
        x, y = (rng.uniform(-0.1, 1.1, 2) * (width, height)).astype(int)
        size = (rng.uniform(0.03, 0.4, 2) * scale).astype(int) + 1
        thickness = -1 if rng.uniform() < 0.6 else int(rng.integers(1, 6))
        if kind == 0:
            cv2.rectangle(image, (int(x), int(y)), (int(x + size[0]), int(y + size[1])), colour, thickness)
        elif kind == 1:
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(image, (int(x), int(y)), (int(size[0]), int(size[1])), angle, 0, 360, colour, thickness)
        else:
            end = (rng.uniform(-0.1, 1.1, 2) * (width, height)).astype(int)
            cv2.line(image, (int(x), int(y)), (int(end[0]), int(end[1])), colour, max(1, thickness))
    tile_size = 1 << max(6, int(np.ceil(np.log2(max(height, width)))))
    tile = _noise_tile(tile_size)
    oy, ox = rng.integers(0, tile_size - height + 1), rng.integers(0, tile_size - width + 1)
    image += float(rng.uniform(0, 30)) * tile[oy : oy + height, ox : ox + width]
    if rng.uniform() < 0.4:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 2.0)))
    return np.clip(image, 0, 255).astype(np.uint8)
