"""The genome of a searched head: 13 reals in [0, 1], decoded by interval mapping.

Positions 0–5 pick the six blocks' types, 6–11 their kernel sizes, 12 the width multiplier. A value
v picks item ⌊v · k⌋ of a list of k (v = 1 picks the last): the k intervals [i/k, (i+1)/k) share
[0, 1] equally. Values outside [0, 1] (an optimiser's step past a bound) are clipped first, so every
point of R^13 decodes; NaN is refused. Blocks 1 and 4 (counting from 1) downsample: stride 2 and
twice the channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BLOCK_TYPES = ("residual", "identity", "inverted_residual", "depthwise_separable")
KERNEL_SIZES = (1, 3, 5)
WIDTH_MULTIPLIERS = (1, 2, 4, 8)
BLOCKS = 6
DOWNSAMPLING = (0, 3)  # block indices from 0: the first and the fourth
GENOME_LENGTH = 2 * BLOCKS + 1
BASE_CHANNELS = 8


@dataclass(frozen=True)
class Block:
    kind: str
    kernel: int
    stride: int
    channels: int  # output channels


@dataclass(frozen=True)
class Architecture:
    """A decoded head: the stem's channels (8 · √multiplier, rounded) and the six blocks."""

    width_multiplier: int
    stem_channels: int
    blocks: tuple[Block, ...]

    def key(self) -> str:
        """A stable name of the architecture: two genomes that decode alike share it (the cache key)."""
        blocks = "-".join(f"{b.kind}{b.kernel}{'s2' if b.stride == 2 else ''}" for b in self.blocks)
        return f"w{self.width_multiplier}:{blocks}"

    def to_dict(self) -> dict:
        return {"width_multiplier": self.width_multiplier, "stem_channels": self.stem_channels,
                "blocks": [{"kind": b.kind, "kernel": b.kernel, "stride": b.stride, "channels": b.channels}
                           for b in self.blocks]}


def interval_index(value: float, count: int) -> int:
    """The item of ``count`` that ``value`` ∈ [0, 1] picks: ⌊value · count⌋, with 1 picking the last."""
    return min(int(math.floor(float(np.clip(value, 0.0, 1.0)) * count)), count - 1)


def decode(genome) -> Architecture:
    """The head a genome describes (module docstring: the mapping)."""
    genome = np.asarray(genome, dtype=np.float64).reshape(-1)
    if genome.shape != (GENOME_LENGTH,):
        raise ValueError(f"a genome holds {GENOME_LENGTH} values, not {genome.size}")
    if np.isnan(genome).any():
        raise ValueError(f"a genome value is NaN: {genome.tolist()}")
    multiplier = WIDTH_MULTIPLIERS[interval_index(genome[-1], len(WIDTH_MULTIPLIERS))]
    channels = stem = int(round(BASE_CHANNELS * math.sqrt(multiplier)))
    blocks = []
    for i in range(BLOCKS):
        stride = 2 if i in DOWNSAMPLING else 1
        channels *= stride
        blocks.append(Block(BLOCK_TYPES[interval_index(genome[i], len(BLOCK_TYPES))],
                            KERNEL_SIZES[interval_index(genome[BLOCKS + i], len(KERNEL_SIZES))], stride, channels))
    return Architecture(multiplier, stem, tuple(blocks))
