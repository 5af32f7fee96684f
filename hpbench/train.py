"""``hpbench train RECIPE --protocol N``: one training loop for every registered baseline.

A recipe (``baselines/*.yaml``) names the architecture, its configuration, the loss, the optimiser,
epochs, batch size, augmentation and, for KD students, the teacher; values come from the baseline's
paper, cited in the file, and ``--set key=value`` overrides any of them (dotted keys reach nested
ones). The protocol's ``train`` split gives the samples, its boxes and its crop rule.

Every epoch writes ``OUT/last.pt`` (model, optimiser, epoch, history); a run that finds one with the
same recipe and protocol resumes after its last finished epoch. The end writes ``OUT/model.pt``, an
hpbench checkpoint (arch, config, state_dict, recipe, protocol, history, environment) that
``hpbench evaluate`` reads. Launched by ``torchrun``, the loop runs DistributedDataParallel over
the processes (gloo on CPU, nccl on GPUs), each with its share of the samples.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler

from hpbench.augment import PoseAugmentation
from hpbench.data import HeadPoseDataset, resolve_boxes
from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.losses import LOSSES
from hpbench.metrics import head_pose_scores
from hpbench.models import create_model
from hpbench.models.ensemble import EnsembleSpec
from hpbench.models.loading import CHECKPOINT_FORMAT
from hpbench.pose import flip_horizontal, get_convention
from hpbench.protocols import load_protocol, select
from hpbench.provenance import environment, utc_now
from hpbench.registry import Registry
from hpbench.resources import bundled_dir

RECIPE_KEYS = {"name", "arch", "source", "model", "loss", "optimizer", "scheduler", "epochs", "batch_size", "augment",
               "crop", "seed", "teacher", "notes"}


@dataclass
class Recipe:
    name: str
    arch: str
    source: str
    loss: dict
    optimizer: dict
    epochs: int
    batch_size: int
    model: dict = field(default_factory=dict)
    scheduler: dict | None = None
    augment: dict = field(default_factory=dict)
    crop: str | None = None
    seed: int = 0
    teacher: dict | None = None
    notes: str = ""


def _set_dotted(raw: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for name in parents:
        if node.get(name) is None:
            node[name] = {}
        if not isinstance(node[name], dict):
            raise HpbenchError(f"--set {dotted}: {name} is not a mapping")
        node = node[name]
    node[leaf] = value


def load_recipe(name_or_path: str | Path, overrides: tuple[str, ...] = ()) -> Recipe:
    path = Path(name_or_path)
    if not path.is_file():
        path = bundled_dir("baselines") / f"{name_or_path}.yaml"
        if not path.is_file():
            registry: Registry[str] = Registry("recipe")
            for known in sorted(p.stem for p in bundled_dir("baselines").glob("*.yaml")):
                registry.register(known)(known)
            registry.get(str(name_or_path))  # raises with "did you mean" and the list
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise HpbenchError(f"{path}: not a readable recipe ({err})") from None
    for item in overrides:
        if "=" not in item:
            raise HpbenchError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        _set_dotted(raw, key.strip(), yaml.safe_load(text))
    unknown = set(raw) - RECIPE_KEYS
    if unknown:
        raise HpbenchError(f"{path}: unknown recipe keys {sorted(unknown)} (known: {sorted(RECIPE_KEYS)})")
    try:
        return Recipe(**raw)
    except TypeError as err:
        raise HpbenchError(f"{path}: {err}") from None


# ---------------------------------------------------------------------------------------------


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _optimizer(model: torch.nn.Module, settings: dict) -> torch.optim.Optimizer:
    settings = dict(settings)
    name, lr = settings.pop("name", "adam"), float(settings.pop("lr"))
    multiplier = float(settings.pop("head_lr_multiplier", 1.0))
    backbone = [p for n, p in model.named_parameters() if n.split(".")[0] in ("backbone", "encoder_net")]
    heads = [p for n, p in model.named_parameters() if n.split(".")[0] not in ("backbone", "encoder_net")]
    groups = [{"params": backbone, "lr": lr}, {"params": heads, "lr": lr * multiplier}]
    optimisers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    if name not in optimisers:
        raise HpbenchError(f"optimizer {name!r}: one of {sorted(optimisers)}")
    return optimisers[name](groups, **settings)


def _scheduler(optimizer, settings: dict | None):
    if not settings:
        return None
    settings = dict(settings)
    if settings.pop("name", "multistep") != "multistep":
        raise HpbenchError("scheduler: only multistep (milestones, gamma) is offered")
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, **settings)


def flip_signs(convention: str) -> np.ndarray:
    """Which components of a convention's values change sign when the image is mirrored."""
    adapter = get_convention(convention)
    probe = np.array([[10.0, 20.0, 30.0]])
    values = adapter.from_canonical(probe)
    return (adapter.from_canonical(flip_horizontal(probe)) * values < 0)[0]


def _training_sets(recipe: Recipe, protocol, data_dir, model, teacher: dict | None, device, workers, progress):
    selections = select(protocol, "train", data_dir)
    augment = PoseAugmentation(**recipe.augment) if recipe.augment is not None else None
    crop = recipe.crop or protocol.crop
    extras = {}
    if teacher:
        from hpbench.teacher import teacher_probabilities

        spec = EnsembleSpec(int(teacher.get("pad", 15)), int(teacher.get("stride", 5)))
        cache = teacher.get("cache") or Path(teacher["checkpoint"]).with_suffix(f".teacher-{protocol.name}.h5")
        extras = teacher_probabilities(teacher["checkpoint"], protocol, "train", selections, spec, cache,
                                       device=device, workers=workers, progress=progress)
    sets = []
    for selection in selections:
        data = HPFile(selection.path)
        boxes, _ = resolve_boxes(data, selection.indices, selection.entry.boxes, selection.entry.reference)
        sets.append(HeadPoseDataset(selection.path, selection.indices, boxes, crop, model.preprocessing, augment,
                                    seed=recipe.seed, extra=extras.get(selection.dataset),
                                    extra_flip=flip_signs(model.convention)))
    return selections, sets, crop


def _validation_mae(model, protocol, data_dir, crop, device) -> float | None:
    if "validation" not in protocol.splits:
        return None
    errors = []
    model.eval()
    with torch.inference_mode():
        for selection in select(protocol, "validation", data_dir):
            data = HPFile(selection.path)
            boxes, _ = resolve_boxes(data, selection.indices, selection.entry.boxes, selection.entry.reference)
            dataset = HeadPoseDataset(selection.path, selection.indices, boxes, crop, model.preprocessing)
            predicted = [model.predict(b["image"].to(device)).float().cpu().numpy() for b in DataLoader(dataset, 128)]
            canonical = get_convention(model.convention).to_canonical(np.concatenate(predicted))
            errors.append(head_pose_scores(canonical, dataset.ypr)["mae"])
    model.train()
    return float(np.mean(errors))


def _save(path: Path, content: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    torch.save(content, partial)
    os.replace(partial, path)


def train(recipe_path, protocol_name, data_dir="data", out=None, overrides=(), pretrained=None, device=None,
          workers: int = 2, progress: bool = True, restart: bool = False, log=print) -> Path:
    """Train a recipe on a protocol's training split; returns the final checkpoint's path."""
    recipe = load_recipe(recipe_path, tuple(overrides))
    protocol = load_protocol(protocol_name)
    if protocol.task != "headpose":
        raise HpbenchError(f"protocol {protocol.name} is a body-pose protocol; the registered baselines are head-pose models")
    rank, world = _distributed()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    say = log if rank == 0 else (lambda *a, **k: None)
    out = Path(out or Path("runs") / f"{recipe.name}-{protocol.name}")
    torch.manual_seed(recipe.seed)
    model = create_model(recipe.arch, pretrained=pretrained, **recipe.model)
    say(f"{recipe.arch}: backbone from {pretrained}" if pretrained else
        f"{recipe.arch}: the backbone starts from random weights (no --pretrained ImageNet file)")
    selections, sets, crop = _training_sets(recipe, protocol, data_dir, model, recipe.teacher, device, workers,
                                            progress and rank == 0)
    train_set = ConcatDataset(sets)
    if len(train_set) < recipe.batch_size * world:
        raise HpbenchError(f"{len(train_set)} training samples are fewer than one batch ({recipe.batch_size} × {world})")
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=recipe.seed) if world > 1 else None
    model.to(device)
    loss_fn = LOSSES.get(recipe.loss["name"])(model, **{k: v for k, v in recipe.loss.items() if k != "name"})
    optimizer = _optimizer(model, recipe.optimizer)
    scheduler = _scheduler(optimizer, recipe.scheduler)
    identity = {"recipe": asdict(recipe), "protocol": {"name": protocol.name, "version": protocol.version,
                "keys_sha256": {s.dataset: s.keys_sha256 for s in selections}}}
    same_run = {"recipe": {k: v for k, v in identity["recipe"].items() if k != "epochs"},  # more epochs: resume
                "protocol": identity["protocol"]}
    start, history = 0, []
    last = out / "last.pt"
    if last.is_file() and not restart:
        state = torch.load(last, map_location="cpu", weights_only=True)
        stored = {"recipe": {k: v for k, v in state.get("recipe", {}).items() if k != "epochs"},
                  "protocol": state.get("protocol")}
        if stored != same_run:
            raise HpbenchError(f"{out} holds a run of another recipe or protocol: choose another --out or pass --restart")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        start, history = state["epoch"] + 1, state["history"]
        say(f"resuming {last} after epoch {start}")
    network = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    convention = get_convention(model.convention)
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(start, recipe.epochs):
        for dataset in sets:
            dataset.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        generator = torch.Generator().manual_seed(recipe.seed * 1000 + epoch)
        loader = DataLoader(train_set, recipe.batch_size, shuffle=sampler is None, sampler=sampler,
                            num_workers=workers, drop_last=True, generator=generator,
                            pin_memory=device.startswith("cuda"))
        network.train()
        started, total, seen = time.perf_counter(), 0.0, 0
        for batch in loader:
            images = batch["image"].to(device, non_blocking=True)
            targets = torch.as_tensor(convention.from_canonical(batch["ypr"].numpy()), dtype=torch.float32,
                                      device=device)
            loss = loss_fn(network(images), targets, batch)
            if not torch.isfinite(loss):
                raise HpbenchError(f"epoch {epoch + 1}: the loss became {loss.item()}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(images), seen + len(images)
        if scheduler is not None:
            scheduler.step()
        seconds = time.perf_counter() - started
        entry = {"epoch": epoch + 1, "loss": total / max(seen, 1), "seconds": round(seconds, 2),
                 "images_per_s": round(seen * world / seconds, 1)}
        if rank == 0:
            validation = _validation_mae(model, protocol, data_dir, crop, device)
            if validation is not None:
                entry["validation_mae"] = validation
            history.append(entry)
            _save(last, {**identity, "format": CHECKPOINT_FORMAT, "arch": recipe.arch, "config": _config(model),
                         "crop": crop,
                         "state_dict": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict() if scheduler else None, "epoch": epoch,
                         "history": history})
            say(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
    final = out / "model.pt"
    if rank == 0:
        _save(final, {**identity, "format": CHECKPOINT_FORMAT, "arch": recipe.arch, "config": _config(model),
                      "crop": crop,
                      "state_dict": model.state_dict(), "history": history, "pretrained": str(pretrained or ""),
                      "environment": environment(), "date": utc_now(), "world_size": world})
        (out / "training.json").write_text(json.dumps({**identity, "history": history}, indent=2, default=str) + "\n")
        say(f"checkpoint: {final}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final


def _config(model) -> dict:
    """The create_model arguments that rebuild the network (the weights come from the checkpoint)."""
    config = {k: v for k, v in model.config.items() if k != "pretrained"}
    config["input_size"] = model.preprocessing.input_size
    return config
