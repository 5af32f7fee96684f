"""``hpbench train`` for head pose: the training set of a recipe (augmentation, a KD teacher's cached
probabilities, a pretext task's labels), its targets and its Run.

The protocol's ``train`` split gives the samples, its boxes and its crop rule (unless the recipe names
its own); its ``validation`` split, where it has one, is scored after every epoch by the task, as
``hpbench evaluate`` scores. A KD student's items carry the teacher's cached probabilities
(hpbench.training.teacher); a model with a pretext task (HMTL) gets its training images transformed and
labelled (hpbench.data.pretext).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset

from hpbench.data.augment import PoseAugmentation
from hpbench.data.headpose import dataset_for
from hpbench.data.pretext import PretextTargets
from hpbench.models.ensemble import EnsembleSpec
from hpbench.pose import get_convention
from hpbench.protocols import Protocol, select
from hpbench.training.loop import Processes, Run
from hpbench.training.losses import LOSSES
from hpbench.training.objective import Objective
from hpbench.training.recipe import Recipe, checked_keywords
from hpbench.training.teacher import TeacherTargets, flip_signs, teacher_probabilities
from hpbench.training.validation import Validation

VALIDATION_BATCH = 128


class AngleTargets:
    """A batch's canonical poses in the model's convention, on the device."""

    def __init__(self, convention: str):
        self.convention = get_convention(convention)

    def __call__(self, batch: dict, device: str) -> torch.Tensor:
        return torch.as_tensor(self.convention.from_canonical(batch["ypr"].numpy()), dtype=torch.float32,
                               device=device)


def _training_set(recipe: Recipe, protocol: Protocol, selections, model, crop: str, processes: Processes,
                  workers: int, progress: bool, cache: bool):
    augment = (PoseAugmentation(**checked_keywords("augment", PoseAugmentation, recipe.augment))
               if recipe.augment is not None else None)
    sets = [dataset_for(s, crop, model.preprocessing, boxes=recipe.boxes, missing_face=protocol.missing_face,
                        augment=augment, seed=recipe.seed, cache=cache, workers=workers, progress=progress)
            for s in selections]
    if recipe.teacher:
        teacher = recipe.teacher
        spec = EnsembleSpec(int(teacher.get("pad", 15)), int(teacher.get("stride", 5)))
        cache = teacher.get("cache") or Path(teacher["checkpoint"]).with_suffix(f".teacher-{protocol.name}.h5")
        probabilities = teacher_probabilities(teacher["checkpoint"], protocol, "train", selections, spec, cache,
                                              device=processes.device, workers=workers, progress=progress)
        sets = [TeacherTargets(d, probabilities[s.dataset], flip_signs(model.convention))
                for s, d in zip(selections, sets)]
    pretext = model.training_transform()
    if pretext is not None:
        sets = [PretextTargets(d, pretext, recipe.seed) for d in sets]
    return ConcatDataset(sets)


def head_pose_run(task, recipe: Recipe, protocol: Protocol, model, data_dir, pretrained, processes: Processes,
                  workers: int, progress: bool, cache: bool) -> Run:
    """The Run of a head-pose recipe on the protocol's training split (validated where it has one)."""
    crop = recipe.crop or protocol.crop
    selections = select(protocol, "train", data_dir)
    loss_function = LOSSES.get(recipe.loss["name"])
    loss = loss_function(model, **checked_keywords("loss", loss_function,
                                                   {k: v for k, v in recipe.loss.items() if k != "name"}))
    validation = [(s, dataset_for(s, crop, model.preprocessing, missing_face=protocol.missing_face, cache=cache,
                                  workers=workers, progress=False))
                  for s in select(protocol, "validation", data_dir)] if "validation" in protocol.splits else []
    return Run(
        model=model,
        train_set=_training_set(recipe, protocol, selections, model, crop, processes, workers,
                                progress and processes.main, cache),
        loss=Objective(loss, model.preprocessing, AngleTargets(model.convention)),
        parameter_groups=model.parameter_groups(),
        optimizer=recipe.optimizer, scheduler=recipe.scheduler, epochs=recipe.epochs, batch_size=recipe.batch_size,
        seed=recipe.seed,
        validate=Validation(task, protocol, validation, processes.device, workers, VALIDATION_BATCH) if validation
        else None,
        recipe=asdict(recipe),
        data={"name": protocol.name, "version": protocol.version,
              "keys_sha256": {s.dataset: s.keys_sha256 for s in selections}},
        checkpoint_fields={"crop": crop, "pretrained": str(pretrained or "")},
        files=tuple(s.path for s in selections) + tuple(s.path for s, _ in validation),
    )
