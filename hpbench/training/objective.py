"""The loss of a training batch, for every task: its uint8 images normalised on the device, the
task's targets, the recipe's loss (hpbench.training.losses) on the network's outputs."""

from __future__ import annotations

from typing import Callable

import torch


class Objective:
    """``loss(outputs, targets, batch)`` with ``targets(batch, device)`` (None where the loss reads the
    batch itself, as body pose's losses read its maps or puzzle orders)."""

    def __init__(self, loss: Callable, preprocessing, targets: Callable[[dict, str], torch.Tensor] | None = None):
        self.loss, self.preprocessing, self.targets = loss, preprocessing, targets

    def __call__(self, network: torch.nn.Module, batch: dict, device: str) -> torch.Tensor:
        images = self.preprocessing.normalise(batch["image"].to(device, non_blocking=True))
        targets = self.targets(batch, device) if self.targets is not None else None
        return self.loss(network(images), targets, batch)
