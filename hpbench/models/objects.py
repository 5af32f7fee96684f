"""A model given as a Python object instead of a file: a torch module, or a plain callable.

A **module** (any ``nn.Module``; a registered family's or the researcher's own) is run by its
``predict`` where it has one, else by calling it. Its outputs are read in ``convention`` (its own
``convention`` attribute, or "hpbench"); its task is its ``task`` attribute (head pose where it has
none). Its identity in a record is the sha256 of its state dict (``state_sha256``): the same weights,
the same hash, whatever the module's class.

A **callable** (a numpy function, another framework's model behind a function) receives each batch
as a numpy float32 array (N, 3, H, W) of normalised images and returns (N, …) values in
``convention``, as numpy or a tensor. It has no weights: its record says ``kind: callable`` and the
leaderboard shows it apart (nothing identifies what was scored).

Without ``preprocessing`` either follows the protocol's input size with ImageNet's normalisation and
RGB order; a ``Preprocessing`` (or a dict of its fields) replaces them.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch
from torch import nn

from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError
from hpbench.models.base import DEFAULT_TASK
from hpbench.paths import safe_word


def state_sha256(module: nn.Module) -> str:
    """The sha256 of a module's state dict: each entry's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{value.dtype}\0{tuple(value.shape)}\0".encode())
        digest.update(value.numpy().tobytes() if value.dtype != torch.bfloat16 else value.float().numpy().tobytes())
    return digest.hexdigest()


class CallableModel(nn.Module):
    """A plain callable as a module without weights: numpy batches in, its values out as a tensor."""

    def __init__(self, function: Callable, task: str = DEFAULT_TASK):
        super().__init__()
        self.function, self.task = function, task

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        values = self.function(images.detach().float().cpu().numpy())
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        try:
            return torch.as_tensor(np.asarray(values, dtype=np.float32), device=images.device)
        except (TypeError, ValueError) as err:
            raise HpbenchError(f"the callable returned {type(values).__name__}, not an array of numbers ({err})") \
                from None

    predict = forward


def checked_preprocessing(preprocessing) -> Preprocessing | None:
    """A Preprocessing from itself, a dict of its fields, or None (the protocol's)."""
    if preprocessing is None or isinstance(preprocessing, Preprocessing):
        return preprocessing
    if isinstance(preprocessing, dict):
        try:
            return Preprocessing(**{k: tuple(v) if isinstance(v, list) else v for k, v in preprocessing.items()})
        except TypeError as err:
            raise HpbenchError(f"preprocessing {preprocessing!r}: {err} (fields: input_size, mean, std, colour, "
                               "resize_kernel)") from None
    raise HpbenchError(f"preprocessing must be a hpbench.data.transforms.Preprocessing or a dict, not "
                       f"{type(preprocessing).__name__}")


def describe_object(model) -> tuple[str, str]:
    """(a file-like name, an architecture name) for a record: the class or function's name, one safe word."""
    name = getattr(model, "__qualname__", None) or type(model).__qualname__
    word = safe_word(name.replace("<", "").replace(">", "")) or "model"
    return word, getattr(model, "arch", "") or word


def object_identity(model) -> tuple[nn.Module, str, str]:
    """(the module to run, its kind — "module" or "callable" — and its sha256)."""
    if isinstance(model, nn.Module):
        return model, "module", state_sha256(model)
    if not callable(model):
        raise HpbenchError(f"a model is a file path, a torch module or a callable, not {type(model).__name__}")
    where = f"{getattr(model, '__module__', '')}.{getattr(model, '__qualname__', type(model).__qualname__)}"
    return CallableModel(model), "callable", hashlib.sha256(f"callable {where}".encode()).hexdigest()
