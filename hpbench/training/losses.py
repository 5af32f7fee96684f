"""Training losses of the baselines, by name (a recipe's ``loss: {name: …}``).

Each factory takes the model and the recipe's parameters and returns ``loss(outputs, targets, batch)``
with ``targets`` (N, 3) in the model's own convention and, for KD students, ``batch["teacher"]`` the
cached teacher probabilities (hpbench.training.teacher.TeacherTargets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hpbench.registry import Registry

LOSSES: Registry = Registry("loss")


def _per_angle_ce(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over the angles, averaged over the batch: logits (N, A, B), bins (N, A)."""
    return F.cross_entropy(logits.transpose(1, 2), bins, reduction="none").mean(dim=0).sum()


@LOSSES.register("hopenet")
def hopenet_loss(model, alpha: float = 1.0):
    """Per angle: cross-entropy over the 3° bins + alpha · MSE of the decoded angle (Ruiz et al.)."""
    head = model.rvc_head

    def loss(outputs, targets, batch):
        expected = head.decode(outputs, model.decoding)
        return _per_angle_ce(outputs, head.targets(targets)) + alpha * F.mse_loss(expected, targets,
                                                                                reduction="none").mean(0).sum()

    return loss


@LOSSES.register("kd_base")
def kd_base_loss(model, regression_scale: float = 1.0):
    """KD's formula (4): (MAE of the regression head / regression_scale + Σ over the M RvC heads of
    their cross-entropy summed over the angles) / (M + 1).

    The paper's MAE is in degrees (regression_scale = 1). From random weights that term, whose
    gradient passes through θ·tanh (θ = 99), drowns the cross-entropies and the RvC heads stay at
    the prior for several epochs; regression_scale = 99 (the MAE in units of θ) lets them learn.
    """

    def loss(outputs, targets, batch):
        terms = [torch.abs(outputs["regression"] - targets).mean() / regression_scale]
        for name, head in model.rvc.items():
            terms.append(_per_angle_ce(outputs[f"rvc{name}"], head.targets(targets)))
        return sum(terms) / len(terms)

    return loss


@LOSSES.register("kd_student")
def kd_student_loss(model, ce_weight: float = 0.05):
    """(ce_weight · CE(truth) + Σ over angles KL(teacher ‖ student)) / 2, with the teacher's cached
    ensemble probabilities."""
    head = model.rvc_head

    def loss(outputs, targets, batch):
        teacher = batch["teacher"].to(outputs.device)
        log_student = F.log_softmax(outputs, dim=-1)
        kl = (teacher * (torch.log(teacher.clamp_min(1e-12)) - log_student)).sum(dim=-1).mean(dim=0).sum()
        return (ce_weight * _per_angle_ce(outputs, head.targets(targets)) + kl) / 2

    return loss
