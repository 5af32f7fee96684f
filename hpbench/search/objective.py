"""The search's objective: a genome → a head trained on cached features → its fitness, each call logged.

A candidate is trained by the shared loop (hpbench.training.loop.fit) on the training features:
Huber loss (δ = 5°) plus L2 of 1e-4 on the convolution and dense kernels (Keras' kernel_regularizer,
as the original), Adam, a stepped learning rate, batch 32, 5 epochs; the best validation MAE over
its epochs is kept. Fitness rules (``fitness.name``):

- ``thesis`` (default): MAE · (MFLOPs / 10)^0.06, the rule of the original code;
- ``penalty``: MAE + w · max(0, MFLOPs − T) / T, SPEC.md's form (``weight`` w, ``limit_mflops`` T).

MFLOPs are the head's (the backbone is shared and frozen), counted by torch's counter (2 FLOPs per
multiply-add). Evaluations are cached by decoded architecture: a genome that decodes like an earlier
one costs no training. Every call is one line of the JSONL log (genome, architecture, params,
MFLOPs, memory, validation MAE, fitness, seconds, whether it was cached); a run that finds a log
replays it call by call (an optimiser seeded alike proposes the same genomes) and goes on after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hpbench.errors import HpbenchError
from hpbench.logs import silenced
from hpbench.metrics import head_pose_scores
from hpbench.search.features import Features
from hpbench.search.genome import GENOME_LENGTH, decode
from hpbench.search.heads import SearchedHead, head_cost
from hpbench.training.loop import Run, fit, start_processes

logger = logging.getLogger(__name__)

FITNESS_RULES = ("thesis", "penalty")


class BudgetSpent(Exception):
    """The objective has been called as often as the budget allows."""


def fitness(val_mae: float, mflops: float, rule: dict) -> float:
    """The fitness of a candidate (module docstring: the rules); lower is better."""
    name = rule.get("name", "thesis")
    if name == "thesis":
        return val_mae * (mflops / float(rule.get("reference_mflops", 10.0))) ** float(rule.get("exponent", 0.06))
    if name == "penalty":
        limit = float(rule["limit_mflops"])
        return val_mae + float(rule.get("weight", 1.0)) * max(0.0, mflops - limit) / limit
    raise HpbenchError(f"fitness rule {name!r}: one of {', '.join(FITNESS_RULES)}")


class FeatureSet(Dataset):
    def __init__(self, features: Features):
        self.features = features

    def __len__(self) -> int:
        return len(self.features.values)

    def __getitem__(self, i: int) -> dict:
        return {"features": self.features.values[i], "ypr": self.features.ypr[i]}


def predict_features(head: torch.nn.Module, features: Features, batch_size: int = 256) -> np.ndarray:
    head.eval()
    with torch.inference_mode():
        out = [head(features.values[i:i + batch_size]) for i in range(0, len(features.values), batch_size)]
    return torch.cat(out).numpy().astype(np.float64)


def train_head(genome, train: Features, validation: Features, settings: dict, seed: int, out: Path | None = None,
               epochs: int | None = None) -> tuple[SearchedHead, list[dict]]:
    """A head of ``genome`` trained on ``train`` (validated on ``validation`` after each epoch) with
    the candidate ``settings``: (the head after its last epoch, the loop's history)."""
    torch.manual_seed(seed)
    head = SearchedHead(decode(genome), train.shape[0])
    delta, l2 = float(settings.get("huber_delta", 5.0)), float(settings.get("l2", 1e-4))

    def loss(network, batch, device):
        predicted = network(batch["features"].to(device))
        huber = torch.nn.functional.huber_loss(predicted, batch["ypr"].to(device), delta=delta)
        return huber + l2 * sum((w ** 2).sum() for w in head.weights())

    def validate(model):
        return {"val_mae": head_pose_scores(predict_features(model, validation), validation.ypr.numpy())["mae"]}

    run = Run(model=head, train_set=FeatureSet(train), loss=loss, parameter_groups={"heads": list(head.parameters())},
              optimizer=dict(settings.get("optimizer", {"name": "adam", "lr": 1e-3})),
              epochs=int(epochs or settings.get("epochs", 5)), batch_size=int(settings.get("batch_size", 32)),
              seed=seed, scheduler=settings.get("scheduler"), validate=validate, amp=False,
              recipe={"genome": [float(v) for v in genome], **settings})
    with tempfile.TemporaryDirectory(prefix="hpbench-candidate-") as scratch:
        with silenced("hpbench.training.loop"):  # one candidate of many: its epochs are not news
            fit(run, out or scratch, start_processes("cpu"), workers=0, restart=True, progress=False)
        history = json.loads((Path(out or scratch) / "training.json").read_text())["history"]
    return head, history


def read_log(path: Path) -> list[dict]:
    """The entries of a JSONL log; a torn last line (the run was killed while writing) is dropped."""
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return entries


class Objective:
    """Callable genome → fitness over fixed features, with the budget, the cache and the log."""

    def __init__(self, train: Features, validation: Features, settings: dict, rule: dict, log_path: Path,
                 budget: int, seed: int = 0):
        self.train, self.validation, self.settings, self.rule = train, validation, settings, rule
        self.log_path, self.budget, self.seed = Path(log_path), int(budget), seed
        self.replay = read_log(self.log_path)[: self.budget]
        self.entries: list[dict] = []
        self.by_architecture: dict[str, dict] = {}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("".join(json.dumps(e) + "\n" for e in self.replay))  # drops a torn line
        if self.replay:
            logger.info(f"{self.log_path}: {len(self.replay)} evaluations logged; replaying them, then going on")

    @property
    def calls(self) -> int:
        return len(self.entries)

    @property
    def remaining(self) -> int:
        return self.budget - self.calls

    def __call__(self, genome) -> float:
        if self.calls >= self.budget:
            raise BudgetSpent
        genome = np.clip(np.asarray(genome, dtype=np.float64).reshape(GENOME_LENGTH), 0.0, 1.0)
        if self.calls < len(self.replay):
            entry = self.replay[self.calls]
            if not np.allclose(entry["genome"], genome, rtol=0, atol=1e-9):
                raise HpbenchError(f"{self.log_path}: evaluation {self.calls + 1} of the log has another genome than "
                                   "this run proposes (another optimiser, seed or budget?): choose another --out")
            self._keep(entry, write=False)
            return entry["fitness"]
        architecture = decode(genome)
        key = architecture.key()
        if key in self.by_architecture:
            entry = {**self.by_architecture[key], "genome": genome.tolist(), "cached": True, "seconds": 0.0}
        else:
            entry = self._train(genome, architecture, key)
        entry["evaluation"] = self.calls + 1
        self._keep(entry, write=True)
        logger.info(f"evaluation {entry['evaluation']}/{self.budget}: fitness {entry['fitness']:.3f} "
                    f"(MAE {entry['val_mae']:.2f}°, {entry['mflops']:.2f} MFLOPs{', cached' if entry['cached'] else ''}) "
                    f"{key}")
        return entry["fitness"]

    def _train(self, genome: np.ndarray, architecture, key: str) -> dict:
        started = time.perf_counter()
        seed = self.seed * 1_000_003 + int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
        head, history = train_head(genome, self.train, self.validation, self.settings, seed % 2**31)
        cost = head_cost(head, self.train.shape)
        val_mae = min(epoch["val_mae"] for epoch in history)
        return {"genome": genome.tolist(), "architecture": architecture.to_dict(), "key": key,
                "params": cost["params"], "mflops": round(cost["mflops"], 6), "memory_mb": round(cost["memory_mb"], 6),
                "val_mae": val_mae, "fitness": fitness(val_mae, cost["mflops"], self.rule),
                "seconds": round(time.perf_counter() - started, 3), "cached": False}

    def _keep(self, entry: dict, write: bool) -> None:
        self.entries.append(entry)
        self.by_architecture.setdefault(entry["key"], entry)
        if write:
            with open(self.log_path, "a") as handle:
                handle.write(json.dumps(entry) + "\n")

    def best(self) -> dict:
        if not self.entries:
            raise HpbenchError("no candidate was evaluated")
        return min(self.entries, key=lambda e: e["fitness"])
