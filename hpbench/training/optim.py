"""Optimisers and learning-rate schedules from a recipe's settings, over a model's parameter groups."""

from __future__ import annotations

import torch

from hpbench.errors import HpbenchError
from hpbench.training.recipe import checked_keywords

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def build_optimizer(groups: dict[str, list], settings: dict) -> torch.optim.Optimizer:
    """``settings``: ``name`` (adam, adamw, sgd), ``lr``, ``lr_multipliers`` ({group: factor}, e.g.
    HopeNet's heads at 5× the backbone's rate) and the optimiser's own keywords."""
    settings = dict(settings)
    name, lr = settings.pop("name", "adam"), float(settings.pop("lr"))
    multipliers = dict(settings.pop("lr_multipliers", None) or {})
    unknown = sorted(set(multipliers) - set(groups))
    if unknown:
        raise HpbenchError(f"optimizer.lr_multipliers: no parameter group {unknown} (the model has {sorted(groups)})")
    if name not in OPTIMIZERS:
        raise HpbenchError(f"optimizer {name!r}: one of {sorted(OPTIMIZERS)}")
    params = [{"params": params, "lr": lr * float(multipliers.get(group, 1.0))}
              for group, params in groups.items() if params]
    return OPTIMIZERS[name](params, **checked_keywords("optimizer", OPTIMIZERS[name], settings))


def build_scheduler(optimizer: torch.optim.Optimizer, settings: dict | None):
    if not settings:
        return None
    settings = dict(settings)
    if settings.pop("name", "multistep") != "multistep":
        raise HpbenchError("scheduler: only multistep (milestones, gamma) is offered")
    scheduler = torch.optim.lr_scheduler.MultiStepLR
    return scheduler(optimizer, **checked_keywords("scheduler", scheduler, settings))
