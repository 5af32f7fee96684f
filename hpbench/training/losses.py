"""Training losses of the baselines, by name (a recipe's ``loss: {name: …}``).

Each factory takes the model and the recipe's parameters and returns ``loss(outputs, targets, batch)``
with ``targets`` (N, 3) in the model's own convention and, for KD students, ``batch["teacher"]`` the
cached teacher probabilities (hpbench.training.teacher.TeacherTargets); for HMTL, ``batch`` holds the
pretext labels (hpbench.data.pretext.PretextTargets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hpbench.registry import Registry

LOSSES: Registry = Registry("loss")


def _per_angle_ce(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over the angles, averaged over the batch: logits (N, A, B), bins (N, A)."""
    return F.cross_entropy(logits.transpose(1, 2), bins, reduction="none").mean(dim=0).sum()


def _hopenet_terms(model, logits: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    head = model.rvc_head
    expected = head.decode(logits, model.decoding)
    return _per_angle_ce(logits, head.targets(targets)) + alpha * F.mse_loss(expected, targets,
                                                                           reduction="none").mean(0).sum()


@LOSSES.register("hopenet")
def hopenet_loss(model, alpha: float = 1.0):
    """Per angle: cross-entropy over the 3° bins + alpha · MSE of the decoded angle (Ruiz et al.)."""

    def loss(outputs, targets, batch):
        return _hopenet_terms(model, outputs, targets, alpha)

    return loss


@LOSSES.register("hmtl")
def hmtl_loss(model, alpha: float = 2.0, pretext_weight: float = 50.0, supervised_weight: float = 1.0):
    """supervised_weight · (HopeNet's loss with ``alpha`` on the RvC heads, or the RMSE of the
    regression head) + pretext_weight · Σ over the pretext heads of every region of their
    cross-entropy (batch mean). Summing over regions is how the paper's Keras model, one output per
    region head, adds them. ``supervised_weight: 0`` is the SSL pre-training (labels unused)."""

    def loss(outputs, targets, batch):
        pose = outputs["pose"]
        total = 0 * pose.sum()  # keeps the supervised head in the graph (DistributedDataParallel wants every parameter)
        if supervised_weight:  # skipped, not multiplied by 0: pre-training images may lack a label (NaN)
            supervised = (_hopenet_terms(model, pose, targets, alpha) if model.rvc_head is not None
                          else torch.sqrt(F.mse_loss(pose, targets)))
            total = total + supervised_weight * supervised
        for name in ("position", "rotation"):
            if name in outputs:
                labels = batch[f"pretext_{name}"].to(pose.device)
                total = total + pretext_weight * _per_angle_ce(outputs[name], labels)
        return total

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


def belief_map_loss(stages: torch.Tensor, targets: torch.Tensor, reduce: bool = True) -> torch.Tensor:
    """Σ over stages and cells of (map − target)², per sample (``reduce``: their mean over the batch).
    ``stages`` (T, N, M, H, W), ``targets`` (N, M, H, W)."""
    per_sample = (stages - targets.unsqueeze(0)).square().sum(dim=(2, 3, 4)).sum(0)
    return per_sample.mean() if reduce else per_sample
