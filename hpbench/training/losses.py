"""Training losses of the baselines, by name (a recipe's ``loss: {name: …}``), of every task.

Each factory takes the model and the recipe's parameters and returns ``loss(outputs, targets, batch)``
(hpbench.training.objective). Head pose: ``targets`` (N, 3) in the model's own convention and, for KD
students, ``batch["teacher"]`` the cached teacher probabilities (hpbench.training.teacher.
TeacherTargets); for HMTL, ``batch`` holds the pretext labels (hpbench.data.pretext.PretextTargets).
Body pose: ``outputs`` are CPM's stages of belief maps (T, N, M, H, W) and the loss reads its targets
from the batch (``heatmaps``, or a jigsaw puzzle's ``perm``). Each factory's ``task`` says which task
it trains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hpbench.data.jigsaw import GRID, position_centres
from hpbench.registry import Registry

LOSSES: Registry = Registry("loss")


def register_loss(name: str, task: str = "headpose"):
    """Register a loss factory under ``name``, for the task (hpbench.tasks) it trains."""

    def add(factory):
        factory.task = task
        return LOSSES.register(name)(factory)

    return add


def _per_angle_ce(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Cross-entropy summed over the angles, averaged over the batch: logits (N, A, B), bins (N, A)."""
    return F.cross_entropy(logits.transpose(1, 2), bins, reduction="none").mean(dim=0).sum()


def _hopenet_terms(model, logits: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    head = model.rvc_head
    expected = head.decode(logits, model.decoding)
    return _per_angle_ce(logits, head.targets(targets)) + alpha * F.mse_loss(expected, targets,
                                                                           reduction="none").mean(0).sum()


@register_loss("hopenet")
def hopenet_loss(model, alpha: float = 1.0):
    """Per angle: cross-entropy over the 3° bins + alpha · MSE of the decoded angle (Ruiz et al.)."""

    def loss(outputs, targets, batch):
        return _hopenet_terms(model, outputs, targets, alpha)

    return loss


@register_loss("geodesic")
def geodesic_loss(model, eps: float = 1e-7):
    """The mean angle (radians) between predicted and true rotation matrices, its cosine clamped to
    ±(1 − eps): 6DRepNet's ``GeodesicLoss`` (thohemp/6DRepNet sixdrepnet/loss.py). For a model whose
    outputs are rotation matrices (convention ``6drepnet``); it sees every pose, backs of heads too."""

    def loss(outputs, targets, batch):
        product = outputs @ targets.transpose(1, 2)
        cosine = (product.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2
        return torch.acos(torch.clamp(cosine, -1 + eps, 1 - eps)).mean()

    return loss


@register_loss("hmtl")
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


@register_loss("kd_base")
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


@register_loss("kd_student")
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


def position_logits(stages: torch.Tensor) -> torch.Tensor:
    """(T, N, 9 slots, 9 positions): each slot map's values at the nine position centres."""
    centres = torch.as_tensor(position_centres(stages.shape[-1]), dtype=torch.long, device=stages.device)
    return stages[:, :, : GRID * GRID][..., centres[:, 0], centres[:, 1]]


def position_cross_entropy(stages: torch.Tensor, perm: torch.Tensor, reduce: bool = True) -> torch.Tensor:
    """The cross-entropy variant's loss: per slot a class among the nine positions, its mean over the
    slots summed over the stages, per sample (``reduce``: their mean over the batch)."""
    logits = position_logits(stages)
    labels = perm.expand(len(stages), -1, -1)
    losses = F.cross_entropy(logits.reshape(-1, GRID * GRID), labels.reshape(-1), reduction="none")
    per_sample = losses.reshape(labels.shape).mean(-1).sum(0)
    return per_sample.mean() if reduce else per_sample


@register_loss("belief_maps", task="bodypose")
def belief_maps_loss(model):
    """CPM's loss (belief_map_loss) against the batch's target maps."""

    def loss(outputs, targets, batch):
        return belief_map_loss(outputs.float(), batch["heatmaps"].to(outputs.device, non_blocking=True))

    return loss


@register_loss("position_cross_entropy", task="bodypose")
def position_cross_entropy_loss(model):
    """CPM-SSL's cross-entropy variant: each slot's position among the nine, against the puzzle's order."""

    def loss(outputs, targets, batch):
        return position_cross_entropy(outputs.float(), batch["perm"].to(outputs.device))

    return loss
