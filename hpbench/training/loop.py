"""The one training loop, task-generic: it knows batches, a loss and parameter groups, not head pose.

A baseline supplies a ``Run``: its model, a Dataset of dict items, ``loss(network, batch, device)``
(which moves what it needs to the device and turns the batch into targets), its parameter groups and
optionally ``validate(model)``. The loop does the rest: processes and devices (DistributedDataParallel
under ``torchrun``: gloo on CPU, nccl on GPUs, each process its share of the samples), mixed
precision on a GPU, seeded shuffling, resume, logging and checkpoints.

Every epoch writes ``OUT/last.pt`` (model, optimiser, epoch, history); a run that finds one with the
same recipe (more epochs allowed) and data resumes after its last finished epoch. The end writes
``OUT/model.pt`` and ``OUT/training.json``. With ``patience`` (early stopping) the run also keeps
``OUT/best.pt``, the epoch of the lowest ``monitor`` value; it stops once that many epochs bring no
lower one, and ``model.pt`` holds the best epoch's weights.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from hpbench.errors import HpbenchError
from hpbench.format import check_unchanged
from hpbench.io import write_text_atomic
from hpbench.models.checkpoint import Checkpoint
from hpbench.models.inference import checked_device
from hpbench.provenance import environment, utc_now
from hpbench.training.optim import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Processes:
    """This process's place in a (possibly distributed) run."""

    rank: int
    world: int
    device: str

    @property
    def main(self) -> bool:
        return self.rank == 0

    def say(self, message: str) -> None:
        """``message`` logged by the main process; the others say nothing."""
        if self.main:
            logger.info(message)


def start_processes(device: str | None = None) -> Processes:
    """Joins the process group when launched by torchrun; picks this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    device = checked_device(device)
    if device == "cuda" and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return Processes(rank, world, device)


@dataclass
class Run:
    model: torch.nn.Module
    train_set: Dataset
    loss: Callable[[torch.nn.Module, dict, str], torch.Tensor]  # (network, batch, device) → scalar
    parameter_groups: dict[str, list]
    optimizer: dict  # hpbench.training.optim.build_optimizer settings
    epochs: int
    batch_size: int
    seed: int = 0
    scheduler: dict | None = None
    validate: Callable[[torch.nn.Module], dict[str, float]] | None = None
    recipe: dict = field(default_factory=dict)  # the settings, stored and compared on resume (but epochs)
    data: dict = field(default_factory=dict)  # what was trained on, compared on resume
    checkpoint_fields: dict = field(default_factory=dict)  # more Checkpoint fields (crop, pretrained)
    amp: bool = True  # mixed precision where the device is a GPU
    patience: int | None = None  # early stopping: epochs without a lower ``monitor`` before the run stops
    monitor: str = "validation_loss"  # a key of validate's result; with patience, model.pt is its best epoch
    files: tuple = ()  # the prepared files it reads: still as checked when the run ends, or it is void


def set_epoch(dataset, epoch: int) -> None:
    """Tell a dataset, and the datasets it is made of, which epoch begins (seeded augmentation)."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    for part in getattr(dataset, "datasets", ()):
        set_epoch(part, epoch)


def fit(run: Run, out: str | Path, processes: Processes, workers: int = 2, restart: bool = False,
        progress: bool = True) -> Path:
    """Train ``run`` into ``out``; returns the final checkpoint's path. ``progress``: a bar per epoch
    (batches, loss, time left) on the main process."""
    out = Path(out)
    say = processes.say
    if len(run.train_set) < run.batch_size * processes.world:
        raise HpbenchError(f"{len(run.train_set)} training samples are fewer than one batch "
                           f"({run.batch_size} × {processes.world})")
    model = run.model.to(processes.device)
    optimizer = build_optimizer(run.parameter_groups, run.optimizer)
    scheduler = build_scheduler(optimizer, run.scheduler)
    start, history = 0, []
    final = out / "model.pt"
    if (out / "last.pt").is_file() and not restart:
        start, history = _resume(out / "last.pt", run, optimizer, scheduler)
        finished = start >= run.epochs or _stalled(run, history)
        if finished and final.is_file():  # nothing left to train: keep the file (records cite its hash)
            say(f"{out} holds a finished run of {run.epochs} epochs: {final} is left as it is "
                "(--restart trains again; --set epochs=N with more epochs goes on)")
            return final
        say(f"resuming {out / 'last.pt'} after epoch {start}")
    network = torch.nn.parallel.DistributedDataParallel(model) if processes.world > 1 else model
    sampler = (DistributedSampler(run.train_set, processes.world, processes.rank, shuffle=True, seed=run.seed)
               if processes.world > 1 else None)
    scaler = torch.amp.GradScaler("cuda") if _mixed(run, processes) else None
    for epoch in range(start, run.epochs):
        if _stop_early(run, history, processes):
            say(f"early stop: no lower {run.monitor} for {run.patience} epochs")
            break
        entry = _train_epoch(run, network, optimizer, scaler, sampler, epoch, processes, workers, progress)
        broken = [name for name, parameter in model.named_parameters() if not torch.isfinite(parameter).all()]
        if broken:  # the last step made the weights NaN or infinite: nothing after it is worth saving
            raise HpbenchError(f"epoch {epoch + 1}: {len(broken)} weight tensors became NaN or infinite (first: "
                               f"{broken[0]}); lower the learning rate. {out} keeps the last finite epoch")
        if scheduler is not None:
            scheduler.step()
        if processes.main:
            if run.validate is not None:
                model.eval()
                entry.update(run.validate(model))
                model.train()
            history.append(entry)
            _checkpoint(run, model, history, optimizer=optimizer.state_dict(), epoch=epoch,
                        scheduler=scheduler.state_dict() if scheduler else None).save(out / "last.pt")
            if run.patience is not None and _best_epoch(run, history) == len(history) - 1:
                _checkpoint(run, model, history, epoch=epoch).save(out / "best.pt")
            rest = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()
                             if k != "epoch")
            say(f"epoch {entry['epoch']}/{run.epochs}: {rest}")
    if processes.main:
        for path in run.files:
            check_unchanged(path)
        if run.patience is not None and (out / "best.pt").is_file():
            best = _best_epoch(run, history)
            model.load_state_dict(Checkpoint.load(out / "best.pt").state_dict)
            say(f"model.pt: the weights of epoch {best + 1}, the lowest {run.monitor} "
                f"({history[best][run.monitor]:.4g})")
        _checkpoint(run, model, history, environment=environment(), date=utc_now(),
                    world_size=processes.world).save(final)
        write_text_atomic(out / "training.json", json.dumps({"recipe": run.recipe, "protocol": run.data,
                                                             "history": history}, indent=2, default=str) + "\n")
        say(f"checkpoint: {final}")
    if processes.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return final


def _best_epoch(run: Run, history: list) -> int:
    values = [entry.get(run.monitor, float("inf")) for entry in history]
    return int(min(range(len(values)), key=values.__getitem__))


def _stop_early(run: Run, history: list, processes: Processes) -> bool:
    """The main process's early-stopping decision (only it validates), shared with the others."""
    decision = [_stalled(run, history)]
    if processes.world > 1 and run.patience is not None:
        dist.broadcast_object_list(decision, src=0)
    return bool(decision[0])


def _stalled(run: Run, history: list) -> bool:
    """Early stopping: ``patience`` epochs since the lowest ``monitor`` value."""
    if run.patience is None or not history:
        return False
    if run.monitor not in history[-1]:
        raise HpbenchError(f"early stopping watches {run.monitor!r}, which validation does not give "
                           f"(it gives {', '.join(k for k in history[-1] if k.startswith('validation'))})")
    return len(history) - 1 - _best_epoch(run, history) >= run.patience


def _mixed(run: Run, processes: Processes) -> bool:
    return run.amp and processes.device.startswith("cuda")


def _train_epoch(run: Run, network, optimizer, scaler, sampler, epoch: int, processes: Processes,
                 workers: int, progress: bool = True) -> dict:
    """One pass over the training set; the epoch's history entry (mean loss, time, throughput)."""
    set_epoch(run.train_set, epoch)
    if sampler is not None:
        sampler.set_epoch(epoch)
    generator = torch.Generator().manual_seed(run.seed * 1000 + epoch)
    loader = DataLoader(run.train_set, run.batch_size, shuffle=sampler is None, sampler=sampler, num_workers=workers,
                        drop_last=True, generator=generator, pin_memory=processes.device.startswith("cuda"))
    network.train()
    autocast = torch.autocast("cuda", dtype=torch.float16) if scaler is not None else nullcontext()
    started, total, seen = time.perf_counter(), 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{run.epochs}", unit="batch", leave=False,
               disable=not (progress and processes.main))
    for batch in bar:
        with autocast:
            loss = run.loss(network, batch, processes.device)
        if not torch.isfinite(loss):
            raise HpbenchError(f"epoch {epoch + 1}: the loss became {loss.item()}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        size = len(next(iter(batch.values())))
        total, seen = total + loss.item() * size, seen + size
        bar.set_postfix(loss=f"{total / seen:.4g}", refresh=False)
    seconds = time.perf_counter() - started
    return {"epoch": epoch + 1, "loss": total / max(seen, 1), "seconds": round(seconds, 2),
            "images_per_s": round(seen * processes.world / seconds, 1)}


def _without_epochs(recipe: dict) -> dict:
    return {k: v for k, v in recipe.items() if k != "epochs"}


def _resume(path: Path, run: Run, optimizer, scheduler) -> tuple[int, list]:
    try:
        state = Checkpoint.load(path)
    except HpbenchError as err:  # an interrupted copy, a disk that filled: the run cannot go on from it
        raise HpbenchError(f"{err}; pass --restart to start the run over (or choose another --out)") from None
    if (_without_epochs(state.recipe), state.protocol) != (_without_epochs(run.recipe), run.data):
        raise HpbenchError(f"{path.parent} holds a run of another recipe or protocol: choose another --out or pass "
                           "--restart")
    run.model.load_state_dict(state.state_dict)
    optimizer.load_state_dict(state.optimizer)
    if scheduler is not None and state.scheduler:
        scheduler.load_state_dict(state.scheduler)
    return state.epoch + 1, state.history


def _checkpoint(run: Run, model, history: list, **values) -> Checkpoint:
    return Checkpoint.of_model(model, recipe=run.recipe, protocol=run.data, history=history,
                               **run.checkpoint_fields, **values)
