"""``hpbench train`` for body pose: CPM on person crops, CPM-SSL's jigsaw pre-training and its transfers.

The recipe names the model (``cpm.6stage``), the loss (``belief_maps``, or ``position_cross_entropy``
for the jigsaw's cross-entropy variant), the optimiser and the epochs; a ``jigsaw`` section makes it
the pre-training (hpbench.data.jigsaw: ``per_image``, ``gap``, ``sigma``); a ``transfer`` section (``layers``: stage1, stage1+middle or all, hpbench.models.cpm.
TRANSFER_LAYERS; ``fixed``: true to freeze what is copied) takes those layers of the ``--pretrained``
jigsaw checkpoint; ``early_stopping: {patience: 50}`` stops when the validation loss has not fallen for
that many epochs, and the final model is the best epoch's (the report's "minimum loss").

The loss (``belief_map_loss``): per sample the sum of squared errors over every cell of every map,
summed over the stages (intermediate supervision) and averaged over the batch. That is the CPM
release's ``nn.MSELoss() × 46·46·15`` per stage (cpm_train.py, ``heat_weight``, in
namedBen/Convolutional-Pose-Machines-Pytorch, the code the report ran): the unit of the report's
"amplified" losses (Tables 4.1–4.4). Validation scores the same loss and the protocol's PCK (or,
pre-training, the share of tiles placed right) after every epoch.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from torch.utils.data import ConcatDataset

from hpbench.data.bodypose import BodyAugmentation, BodyPoseDataset, decode_heatmaps
from hpbench.data.jigsaw import GRID, JigsawPuzzles, position_centres
from hpbench.errors import HpbenchError
from hpbench.models.inference import run_batches
from hpbench.protocols import Protocol, select
from hpbench.training.loop import Run
from hpbench.training.losses import LOSSES, belief_map_loss, position_cross_entropy, position_logits
from hpbench.training.objective import Objective
from hpbench.training.recipe import Recipe, checked_keywords
from hpbench.training.validation import Validation

VALIDATION_BATCH = 16


def tiles_placed(stages: torch.Tensor) -> torch.Tensor:
    """(N, 9) the position each slot's last-stage map points at: the centre nearest its argmax."""
    peaks = decode_heatmaps(stages[-1][:, : GRID * GRID].float(), 1, refine=False)  # (N, 9, 2) x, y cells
    centres = torch.as_tensor(position_centres(stages.shape[-1])[:, ::-1].copy(), dtype=peaks.dtype,
                              device=peaks.device)  # (9, 2) x, y
    return torch.cdist(peaks, centres.expand(len(peaks), -1, -1)).argmin(-1)


class PuzzleValidation:
    """After a pre-training epoch: the mean loss on the validation puzzles and the share of tiles placed
    right."""

    def __init__(self, sets, device: str, workers: int, batch_size: int = VALIDATION_BATCH):
        self.sets, self.device, self.workers, self.batch_size = sets, device, workers, batch_size

    def __call__(self, model) -> dict[str, float]:
        def step(images: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
            stages = model(images).float()
            perm = batch["perm"].to(images.device)
            if "heatmaps" in batch:  # heatmap-coded puzzles: the maps' loss, each slot's peak nearest a centre
                loss = belief_map_loss(stages, batch["heatmaps"].to(images.device), reduce=False)
                placed = tiles_placed(stages)
            else:
                loss, placed = position_cross_entropy(stages, perm, reduce=False), position_logits(stages)[-1].argmax(-1)
            return loss, (placed == perm).float().mean(-1)

        parts = [run_batches(dataset, step, self.device, self.batch_size, self.workers, "validate puzzles",
                             progress=False)[0] for _, dataset in self.sets]
        losses, right = (np.concatenate(column) for column in zip(*parts))
        return {"validation_loss": float(losses.mean()), "validation_tile_accuracy": float(right.mean())}


def bodypose_run(task, recipe: Recipe, protocol: Protocol, model, data_dir, device: str, workers: int) -> Run:
    """The Run of a body-pose recipe on a protocol's training split (validation where it has one)."""
    jigsaw, loss = recipe.jigsaw, recipe.loss.get("name")
    if loss == "position_cross_entropy" and jigsaw is None:
        raise HpbenchError(f"recipe {recipe.name}: loss {loss!r} places jigsaw tiles; it needs a jigsaw section")
    preprocessing = model.preprocessing

    def sets(split: str, augment=None):
        result = []
        for selection in select(protocol, split, data_dir):
            if jigsaw is not None:
                settings = checked_keywords("jigsaw", JigsawPuzzles, dict(jigsaw))
                if split != "train":
                    settings["per_image"] = 1
                dataset = JigsawPuzzles(selection.data, selection.indices, preprocessing, seed=recipe.seed,
                                        target="index" if loss == "position_cross_entropy" else "heatmap",
                                        **settings)
            else:
                dataset = BodyPoseDataset(selection.data, selection.indices, preprocessing, augment, recipe.seed)
                if dataset.truth_joints.shape[1] != model.joints:
                    raise HpbenchError(f"{selection.path} has {dataset.truth_joints.shape[1]} joints, the model "
                                       f"{model.joints}: --set model.joints={dataset.truth_joints.shape[1]}")
            result.append((selection, dataset))
        return result

    augment = (BodyAugmentation(**checked_keywords("augment", BodyAugmentation, recipe.augment))
               if recipe.augment is not None and jigsaw is None else None)
    train = sets("train", augment)
    validate, validation = None, []
    if "validation" in protocol.splits:
        validation = sets("validation")
        validate = (PuzzleValidation(validation, device, workers) if jigsaw is not None
                    else Validation(task, protocol, validation, device, workers, VALIDATION_BATCH))
    stopping = recipe.early_stopping or {}
    return Run(model=model, train_set=ConcatDataset([d for _, d in train]),
               loss=Objective(LOSSES.get(loss)(model), preprocessing),
               parameter_groups=model.parameter_groups(), optimizer=recipe.optimizer, scheduler=recipe.scheduler,
               epochs=recipe.epochs, batch_size=recipe.batch_size, seed=recipe.seed, validate=validate,
               recipe=asdict(recipe),
               data={"name": protocol.name, "version": protocol.version,
                     "keys_sha256": {s.dataset: s.keys_sha256 for s, _ in train}},
               checkpoint_fields={"crop": protocol.crop}, files=tuple(s.path for s, _ in train + validation),
               patience=stopping.get("patience"), monitor=stopping.get("monitor", "validation_loss"))
