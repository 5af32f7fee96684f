"""Heads shared by the baselines: RvC (classification over angle bins) and bounded regression."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hpbench.errors import HpbenchError


def bin_edges(bin_size: float, theta: float = 99.0) -> np.ndarray:
    """Edges of bins of ``bin_size`` degrees centred on 0 that cover [−θ, θ].

    When 2θ / bin_size is not an integer the outer bins reach past ±θ: bin size 4 over ±99° gives
    ceil(198 / 4) = 50 bins over [−100, 100] (hpbench's rule; KD's paper leaves it open).
    """
    count = math.ceil(round(2 * theta / bin_size, 9))
    half = count * bin_size / 2
    return np.linspace(-half, half, count + 1)


DECODINGS = ("centre", "left-edge")


def checked_decoding(variant) -> str:
    """A decoding variant of RvC probabilities (``DECODINGS``), or a one-line error."""
    if variant not in DECODINGS:
        raise HpbenchError(f"decoding {str(variant)[:60]!r}: one of {', '.join(DECODINGS)}")
    return variant


class RvCHead(nn.Module):
    """One linear classifier per angle over angle bins; each is an attribute named after its angle
    (``pitch``, ``yaw``, ``roll``), as in HopeNet and KD checkpoints."""

    def __init__(self, in_features: int, bin_size: float = 1.0, theta: float = 99.0,
                 angles: tuple[str, ...] = ("pitch", "yaw", "roll")):
        super().__init__()
        self.angles = angles
        edges = bin_edges(bin_size, theta)
        self.bin_size = bin_size
        for angle in angles:
            setattr(self, angle, nn.Linear(in_features, len(edges) - 1))
        self.register_buffer("edges", torch.as_tensor(edges, dtype=torch.float32), persistent=False)

    @property
    def bins(self) -> int:
        return len(self.edges) - 1

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C) → logits (N, angles, bins)."""
        return torch.stack([getattr(self, angle)(features) for angle in self.angles], dim=1)

    def decode(self, logits: torch.Tensor, variant: str = "centre") -> torch.Tensor:
        """Expected angle (N, angles) under the softmax of the logits."""
        return self.expectation(torch.softmax(logits, dim=-1), variant)

    def expectation(self, probabilities: torch.Tensor, variant: str = "centre") -> torch.Tensor:
        """Σ p · bin centre, or Σ p · left edge (HopeNet's ``Σ softmax·idx·3 − 99``, kept for compatibility)."""
        checked_decoding(variant)
        points = (self.edges[:-1] + self.edges[1:]) / 2 if variant == "centre" else self.edges[:-1]
        return (probabilities * points).sum(dim=-1)

    def targets(self, angles: torch.Tensor) -> torch.Tensor:
        """Bin index of each angle (N, angles), clamped to the outer bins."""
        index = torch.bucketize(angles.contiguous(), self.edges[1:-1].contiguous(), right=True)
        return index.clamp(0, self.bins - 1)


class RegressionHead(nn.Module):
    """θ · tanh(linear): angles bounded to (−θ, θ)."""

    def __init__(self, in_features: int, outputs: int = 3, theta: float = 99.0):
        super().__init__()
        self.linear = nn.Linear(in_features, outputs)
        self.theta = theta

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.theta * torch.tanh(self.linear(features))
