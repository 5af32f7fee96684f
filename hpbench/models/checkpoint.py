"""The hpbench checkpoint: one type that ``hpbench train`` writes and ``hpbench evaluate`` reads.

Stored as a plain dict of tensors and built-in types (``format: hpbench-checkpoint``), so it unpickles
with ``weights_only=True``: enough to rebuild the network (``arch``, ``config``, ``state_dict``) and
to trace it (``recipe``, ``protocol``, ``history``, ``environment``); a resumable one (``last.pt``)
also holds the optimiser's and scheduler's state and the last finished epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from hpbench.errors import HpbenchError
from hpbench.io import atomic_path
from hpbench.schema import Rule, check_values

CHECKPOINT_FORMAT = "hpbench-checkpoint"
_MAPPING, _OPTIONAL_MAPPING, _OPTIONAL_TEXT = Rule((dict,)), Rule((dict, type(None))), Rule((str, type(None)))
CHECKPOINT_RULES = {"arch": Rule((str,)), "config": _MAPPING, "state_dict": _MAPPING, "crop": _OPTIONAL_TEXT,
                    "recipe": _MAPPING, "history": Rule((list,)), "optimizer": _OPTIONAL_MAPPING,
                    "scheduler": _OPTIONAL_MAPPING, "epoch": Rule((int, type(None)), low=0),
                    "pretrained": _OPTIONAL_TEXT, "environment": _OPTIONAL_MAPPING, "date": _OPTIONAL_TEXT,
                    "world_size": Rule((int, type(None)), low=1)}


def read_torch_file(path: str | Path, trust: bool = False) -> Any:
    """Unpickle a torch file: tensors and built-in types only unless ``trust`` (unpickling can run code)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as err:  # torch raises many kinds here
        text = str(err)
        if not trust and "Unsupported global" in text:
            raise HpbenchError(
                f"{path}: holds Python objects beyond tensors, and unpickling them can run code. "
                "Pass --trust-checkpoint if you trust where the file comes from."
            ) from None
        # torch's safe loader explains weights_only at length; what matters is the unpickler's own words
        detail = text.split("WeightsUnpickler error:")[-1].strip().splitlines()[0] if text.strip() else ""
        raise HpbenchError(f"{path}: not a readable model file: damaged or not a torch file "
                           f"({type(err).__name__}: {detail[:200]})") from None


def is_checkpoint(content: Any) -> bool:
    return isinstance(content, dict) and content.get("format") == CHECKPOINT_FORMAT


@dataclass
class Checkpoint:
    arch: str
    config: dict  # the create_model arguments that rebuild the network
    state_dict: dict
    crop: str | None = None  # the crop rule the model was trained with
    recipe: dict = field(default_factory=dict)
    protocol: Any = field(default_factory=dict)  # name, version and key-list hashes of the training split
    history: list = field(default_factory=list)  # one entry per finished epoch
    optimizer: dict | None = None  # resumable checkpoints only
    scheduler: dict | None = None
    epoch: int | None = None  # the last finished epoch, from 0
    pretrained: str | None = None  # final checkpoints: the backbone's starting weights, the run's environment
    environment: dict | None = None
    date: str | None = None
    world_size: int | None = None

    @classmethod
    def of_model(cls, model: torch.nn.Module, **values) -> "Checkpoint":
        """A checkpoint of a registered model: its arch and the config that rebuilds it (weights aside)."""
        config = {k: v for k, v in getattr(model, "config", {}).items() if k != "pretrained"}
        if hasattr(model, "preprocessing"):
            config["input_size"] = model.preprocessing.input_size
        return cls(arch=getattr(model, "arch", ""), config=config, state_dict=model.state_dict(), **values)

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"format": CHECKPOINT_FORMAT, **{k: v for k, v in values.items() if v is not None}}

    @classmethod
    def from_dict(cls, content: dict, path: str | Path) -> "Checkpoint":
        known = {f.name for f in fields(cls)}
        check_values({k: v for k, v in content.items() if k in CHECKPOINT_RULES}, CHECKPOINT_RULES,
                     f"{path}: an hpbench checkpoint with")
        state = content.get("state_dict", {})
        if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise HpbenchError(f"{path}: an hpbench checkpoint whose state_dict holds more than named tensors")
        try:
            return cls(**{k: v for k, v in content.items() if k in known})
        except TypeError as err:
            raise HpbenchError(f"{path}: an incomplete hpbench checkpoint ({err})") from None

    @classmethod
    def load(cls, path: str | Path, trust: bool = False) -> "Checkpoint":
        content = read_torch_file(path, trust)
        if not is_checkpoint(content):
            raise HpbenchError(f"{path}: not an hpbench checkpoint")
        return cls.from_dict(content, path)

    def save(self, path: str | Path) -> Path:
        try:
            with atomic_path(path) as partial:
                torch.save(self.to_dict(), partial)
        except RuntimeError as err:  # torch's writer meeting a full disk; the partial file is gone
            detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise HpbenchError(f"{path}: writing the checkpoint failed ({detail}); is the disk full?") from None
        return Path(path)
