"""``hpbench train RECIPE --protocol N``: the registered baselines through the shared loop.

Body-pose recipes (CPM, its jigsaw pre-training and transfers) take hpbench.training.bodypose's
path; the rest of this module is head pose.

The recipe (hpbench.training.recipe) names the model, loss and optimiser; the protocol's ``train``
split gives the samples, its boxes and its crop rule (unless the recipe names its own); its
``validation`` split, where it has one, is scored after every epoch by the same code as ``hpbench
evaluate``. A KD student's items carry the teacher's cached probabilities (hpbench.training.teacher);
a model with a pretext task (HMTL) gets its training images transformed and labelled
(hpbench.data.pretext). ``--pretrained`` is a local ImageNet file for the backbone or an hpbench
checkpoint to fine-tune from. The final ``OUT/model.pt`` is an hpbench checkpoint that ``hpbench
evaluate`` reads.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset

from hpbench.data.augment import PoseAugmentation
from hpbench.data.headpose import dataset_for
from hpbench.data.pretext import PretextTargets
from hpbench.errors import HpbenchError
from hpbench.locks import output_lock
from hpbench.parallel import capped_workers
from hpbench.paths import output_path
from hpbench.evaluation.evaluate import predict_dataset, score
from hpbench.models import MODELS, create_model
from hpbench.models.checkpoint import Checkpoint, is_checkpoint, read_torch_file
from hpbench.models.cpm import transferable
from hpbench.models.ensemble import EnsembleSpec
from hpbench.pose import get_convention
from hpbench.protocols import Protocol, load_protocol, select
from hpbench.training.bodypose import bodypose_run
from hpbench.training.loop import Processes, Run, fit, start_processes
from hpbench.training.losses import LOSSES
from hpbench.training.recipe import Recipe, checked_keywords, load_recipe
from hpbench.training.teacher import TeacherTargets, flip_signs, teacher_probabilities


class PoseObjective:
    """The supervised head-pose loss of a batch: its uint8 images normalised on the device, the
    canonical poses in the model's convention as targets, the recipe's loss on the network's outputs."""

    def __init__(self, loss, convention: str, preprocessing):
        self.loss, self.convention, self.preprocessing = loss, get_convention(convention), preprocessing

    def __call__(self, network: torch.nn.Module, batch: dict, device: str) -> torch.Tensor:
        images = self.preprocessing.normalise(batch["image"].to(device, non_blocking=True))
        targets = torch.as_tensor(self.convention.from_canonical(batch["ypr"].numpy()), dtype=torch.float32,
                                  device=device)
        return self.loss(network(images), targets, batch)


class Validation:
    """Mean MAE over the protocol's validation sets, scored as ``hpbench evaluate`` scores."""

    def __init__(self, protocol: Protocol, data_dir, crop: str, model, device: str, workers: int, cache: bool,
                 log=print):
        self.protocol, self.device, self.workers = protocol, device, workers
        self.sets = [(s, dataset_for(s, crop, model.preprocessing, missing_face=protocol.missing_face, cache=cache,
                                     workers=workers, progress=False, log=log))
                     for s in select(protocol, "validation", data_dir)]

    def __call__(self, model) -> dict[str, float]:
        errors = [score(predict_dataset(dataset, selection, model.predict, model.convention, self.device, 128,
                                        self.workers, progress=False), self.protocol).metrics["mae"]
                  for selection, dataset in self.sets]
        return {"validation_mae": float(np.mean(errors))}


def _training_set(recipe: Recipe, protocol: Protocol, selections, model, crop: str, processes: Processes,
                  workers: int, progress: bool, cache: bool, log):
    augment = (PoseAugmentation(**checked_keywords("augment", PoseAugmentation, recipe.augment))
               if recipe.augment is not None else None)
    sets = [dataset_for(s, crop, model.preprocessing, boxes=recipe.boxes, missing_face=protocol.missing_face,
                        augment=augment, seed=recipe.seed, cache=cache, workers=workers, progress=progress, log=log)
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


def fine_tune_from(model, content: dict, path, say, only=None) -> set[str]:
    """Copy into ``model`` every tensor of an hpbench checkpoint (``content``, read from ``path``) whose
    name and shape it shares (an SSL pre-training, another run) and, given ``only(name)``, that it
    accepts; the rest keep their initial values. None fitting is an error. Returns the names copied."""
    state = Checkpoint.from_dict(content, path).state_dict
    own = model.state_dict()
    taken = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and (only is None or only(k))}
    if not taken:
        raise HpbenchError(f"--pretrained {path}: no tensor of this checkpoint fits {model.arch}")
    model.load_state_dict(taken, strict=False)
    say(f"{model.arch}: {len(taken)} of its {len(own)} tensors from {path} "
        f"({len(own) - len(taken)} keep their initial values, {len(state) - len(taken)} of the file's unused)")
    return set(taken)


def train(recipe_path, protocol_name, data_dir="data", out=None, overrides=(), pretrained=None, device=None,
          workers: int = 2, progress: bool = True, restart: bool = False, cache: bool = True, log=print) -> Path:
    """Train a recipe on a protocol's training split; returns the final checkpoint's path. ``cache``:
    crops from the crop cache where the crop rule allows it (hpbench.data.crop_cache)."""
    recipe = load_recipe(recipe_path, tuple(overrides))
    protocol = load_protocol(protocol_name)
    out = Path(out or output_path("runs", f"{recipe.name}-{protocol.name}"))
    processes = start_processes(device)
    workers = capped_workers(workers, log=log) if workers else 0
    with output_lock(out) if processes.main else nullcontext():  # one run per folder, refused at once
        return _train(recipe, protocol, data_dir, out, pretrained, processes, workers, progress, restart, cache, log)


def _train(recipe: Recipe, protocol: Protocol, data_dir, out: Path, pretrained, processes: Processes, workers: int,
           progress: bool, restart: bool, cache: bool, log) -> Path:
    say = processes.say(log)
    torch.manual_seed(recipe.seed)
    content = read_torch_file(pretrained) if pretrained and Path(pretrained).is_file() else None
    checkpoint = is_checkpoint(content)
    try:
        model = create_model(recipe.arch, pretrained=None if checkpoint else pretrained,
                             **checked_keywords("model", MODELS.get(recipe.arch), recipe.model))
    except (TypeError, ValueError) as err:  # a value the family refuses (a decoding variant, a size)
        raise HpbenchError(f"recipe {recipe.name}: its model section does not build {recipe.arch} ({err})") from None
    if model.task != protocol.task:
        raise HpbenchError(f"recipe {recipe.name} trains {model.task} ({recipe.arch}); protocol {protocol.name} is "
                           f"{protocol.task}")
    if recipe.transfer is not None and not checkpoint:
        raise HpbenchError(f"recipe {recipe.name} transfers layers of a jigsaw pre-training: pass --pretrained "
                           "runs/cpm-jigsaw-pretrain-<protocol>/model.pt")
    if recipe.transfer is not None:  # CPM-SSL: the report's layers of a jigsaw checkpoint, frozen if fixed
        layers = recipe.transfer.get("layers", "stage1")
        taken = fine_tune_from(model, content, pretrained, say, only=lambda name: transferable(name, layers))
        if recipe.transfer.get("fixed", False):
            for name, parameter in model.named_parameters():
                parameter.requires_grad_(name not in taken)
        say(f"transferred the {layers} layers, {'fixed' if recipe.transfer.get('fixed') else 'fine-tuned'}")
    elif checkpoint:
        fine_tune_from(model, content, pretrained, say)
    else:
        say(f"{recipe.arch}: backbone from {pretrained}" if pretrained else
            f"{recipe.arch}: the backbone starts from random weights (no --pretrained ImageNet file)")
    if protocol.task == "bodypose":
        run = bodypose_run(recipe, protocol, model, data_dir, processes.device, workers)
        return fit(run, out, processes, workers, restart, log, progress)
    crop = recipe.crop or protocol.crop
    selections = select(protocol, "train", data_dir)
    loss_function = LOSSES.get(recipe.loss["name"])
    loss = loss_function(model, **checked_keywords("loss", loss_function,
                                                   {k: v for k, v in recipe.loss.items() if k != "name"}))
    validate = (Validation(protocol, data_dir, crop, model, processes.device, workers, cache, say)
                if "validation" in protocol.splits else None)
    run = Run(
        model=model,
        train_set=_training_set(recipe, protocol, selections, model, crop, processes, workers,
                                progress and processes.main, cache, say),
        loss=PoseObjective(loss, model.convention, model.preprocessing), parameter_groups=model.parameter_groups(),
        optimizer=recipe.optimizer, scheduler=recipe.scheduler, epochs=recipe.epochs, batch_size=recipe.batch_size,
        seed=recipe.seed, validate=validate, recipe=asdict(recipe),
        data={"name": protocol.name, "version": protocol.version,
              "keys_sha256": {s.dataset: s.keys_sha256 for s in selections}},
        checkpoint_fields={"crop": crop, "pretrained": str(pretrained or "")},
        files=tuple(s.path for s in selections) + tuple(s.path for s, _ in (validate.sets if validate else ())),
    )
    return fit(run, out, processes, workers, restart, log, progress)
