"""A frozen backbone's features at a named layer, computed once per sample and cached.

The cache is one HDF5 file per request under ``$HPBENCH_CACHE/features/``, named by the sha256 of
everything that decides its values: the backbone file's sha256 (or its architecture where it has no
file), the layer, the protocol's name and version, the split, each selected dataset's content digest
and key-list hash, the box source, the crop rule and the preprocessing. Features are stored as
float16 (half the disk: 300W-LP's 122,415 samples at 8 × 8 × 896 need 14 GB) and read as float32.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from hpbench.errors import HpbenchError
from hpbench.io import atomic_path
from hpbench.models.inference import run_model
from hpbench.registry import names_registry
from hpbench.resources import cache_dir

logger = logging.getLogger(__name__)


class _Reached(Exception):
    def __init__(self, output):
        self.output = output


class TrunkCut:
    """``model``'s forward pass stopped at the module ``layer`` (a name of ``model.named_modules()``):
    calling it returns that module's output. The model itself is not changed but for a hook."""

    def __init__(self, model: torch.nn.Module, layer: str):
        modules = dict(model.named_modules())
        if layer not in modules or not layer:
            names_registry("layer", [name for name in modules if name]).get(layer)  # "did you mean"
        self.model, self.layer = model, layer
        modules[layer].register_forward_hook(self._stop)

    @staticmethod
    def _stop(module, inputs, output):
        raise _Reached(output)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        try:
            self.model(images)
        except _Reached as reached:
            if not isinstance(reached.output, torch.Tensor) or reached.output.dim() != 4:
                raise HpbenchError(f"layer {self.layer} gives {type(reached.output).__name__} "
                                   f"{tuple(getattr(reached.output, 'shape', ()))}: choose a layer with a "
                                   "(N, C, H, W) feature map") from None
            return reached.output
        raise HpbenchError(f"the backbone's forward pass does not go through {self.layer}")


@dataclass(frozen=True)
class FeatureRequest:
    backbone: str  # the backbone file's sha256, or its architecture
    layer: str
    protocol: str  # name and version
    split: str
    selections: tuple  # (dataset, content sha256, keys sha256) per selection
    boxes: str
    crop: str
    preprocessing: str

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class Features:
    values: torch.Tensor  # (N, C, H, W) float32
    ypr: torch.Tensor  # (N, 3) canonical degrees
    path: Path

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.values.shape[1:])


def cached_features(request: FeatureRequest, datasets: list, trunk: TrunkCut, device: str = "cpu",
                    batch_size: int = 64, workers: int = 0, progress: bool = True) -> Features:
    """The features of ``datasets`` (one per selection of the split, in order) for ``request``:
    read from the cache, or computed once through ``trunk`` and written there."""
    path = cache_dir() / "features" / f"{request.key}.h5"
    if not path.is_file():
        parts = []
        for dataset in datasets:
            values, _, seconds = run_model(dataset, trunk, device, batch_size, workers,
                                           f"features {request.split} {dataset.data.path.stem}", progress)
            logger.info(f"features of {len(dataset):,} {request.split} samples ({dataset.data.path.name}) at {request.layer}: "
                        f"{tuple(values.shape[1:])}, {seconds:.1f} s")
            parts.append(values.astype(np.float16))
        ypr = np.concatenate([dataset.ypr for dataset in datasets]).astype(np.float32)
        with atomic_path(path) as partial, h5py.File(partial, "w") as h5:
            h5.create_dataset("features", data=np.concatenate(parts))
            h5.create_dataset("ypr", data=ypr)
            h5.attrs["request"] = json.dumps(asdict(request), sort_keys=True)
    else:
        logger.info(f"features of the {request.split} split: cached in {path}")
    with h5py.File(path, "r") as h5:
        return Features(torch.from_numpy(h5["features"][:].astype(np.float32)), torch.from_numpy(h5["ypr"][:]), path)
