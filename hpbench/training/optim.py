"""Optimisers and learning-rate schedules from a recipe's settings, over a model's parameter groups."""

from __future__ import annotations

import torch

from hpbench.errors import HpbenchError
from hpbench.training.recipe import checked_keywords


class AdaBelief(torch.optim.Optimizer):
    """AdaBelief (Zhuang et al., NeurIPS 2020, Algorithm 2): Adam whose second moment tracks the
    squared deviation of the gradient from its running mean, s ← β₂ s + (1 − β₂)(g − m)² + ε, and the
    step α · m̂ / (√ŝ + ε). Weight decay is decoupled (θ ← θ (1 − α λ)), as adabelief-pytorch 0.2's
    default; its other default, the RAdam rectification, is not offered. Written here because the
    package index's implementations are unmaintained (adabelief-pytorch: last release 2021)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-16,
                 weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                grad, state = parameter.grad, self.state[parameter]
                if not state:
                    state.update(step=0, mean=torch.zeros_like(parameter), belief=torch.zeros_like(parameter))
                state["step"] += 1
                parameter.mul_(1 - group["lr"] * group["weight_decay"])
                mean, belief = state["mean"], state["belief"]
                mean.lerp_(grad, 1 - beta1)
                residual = grad - mean
                belief.mul_(beta2).addcmul_(residual, residual, value=1 - beta2).add_(group["eps"])
                denominator = (belief / (1 - beta2 ** state["step"])).sqrt_().add_(group["eps"])
                parameter.addcdiv_(mean, denominator, value=-group["lr"] / (1 - beta1 ** state["step"]))
        return loss


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "adabelief": AdaBelief}


def build_optimizer(groups: dict[str, list], settings: dict) -> torch.optim.Optimizer:
    """``settings``: ``name`` (adam, adamw, sgd, adabelief), ``lr``, ``lr_multipliers`` ({group: factor}, e.g.
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
