"""The crop cache: a deterministic crop rule applied once per sample, the crops kept as one uint8 array.

Where a Dataset's crops are the same every epoch (a crop rule that draws nothing), every
``crop_at(position)`` — BGR uint8 at the crop size (input size + 2·pad + the augmentation margin) — is
written once to ``$HPBENCH_CACHE/crops/<key>.npy`` and memory-mapped: an item is then a copy out of
the page cache instead of a JPEG decode, a crop and a resize. Augmentation still runs on every item.

The key is the sha256 of everything a crop depends on: the prepared file's content digest (so a box
import or relabel, which rewrites the file, changes it), the selected indices, the boxes used, the
crop rule, the crop size and the resize kernel. A changed input is another key, never a stale read.
A build replaces the caches made from an older content of the same prepared file; it is skipped, with
a message, when the disk has no room for it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from hpbench.io import atomic_path, write_text_atomic
from hpbench.resources import cache_dir

logger = logging.getLogger(__name__)

CACHE_VERSION = 1  # part of the key: a change in how crops are cut or stored invalidates every cache
FREE_DISK_MARGIN = 1 << 30  # bytes left free after a build


@dataclass(frozen=True)
class CacheRequest:
    """What the crops of one Dataset depend on."""

    file: str
    content_sha256: str
    indices_sha256: str
    boxes_sha256: str
    crop: str
    size: int
    resize_kernel: str
    degrade: str = ""  # hpbench.data.perturb.Degradation; "" (none) leaves the key as it always was

    @property
    def key(self) -> str:
        fields = {k: v for k, v in vars(self).items() if k != "file" and (k != "degrade" or v)}
        text = json.dumps({"version": CACHE_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def request_for(dataset, content_sha256: str) -> CacheRequest:
    """The cache request of a HeadPoseDataset whose file content has the digest ``content_sha256``."""
    return CacheRequest(str(Path(dataset.data.path).resolve()), content_sha256,
                        hashlib.sha256(np.ascontiguousarray(dataset.indices, np.int64).tobytes()).hexdigest(),
                        hashlib.sha256(np.ascontiguousarray(dataset.boxes, np.float64).tobytes()).hexdigest(),
                        dataset.crop.name, dataset.crop_size, dataset.preprocessing.resize_kernel,
                        repr(dataset.degrade) if dataset.degrade is not None else "")


class CachedCrops:
    """The crops of one cache file, memory-mapped on first use in each process (never pickled whole)."""

    def __init__(self, path: Path, count: int):
        self.path, self.count = Path(path), count
        self._array, self._pid = None, None

    def __getstate__(self):
        return {**self.__dict__, "_array": None, "_pid": None}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, position: int) -> np.ndarray:
        """The crop, read-only (what follows it, augmentation and ``to_uint8``, makes new arrays)."""
        if self._array is None or self._pid != os.getpid():
            # a plain ndarray over the mapping: OpenCV takes an np.memmap slice a third slower
            self._array, self._pid = np.load(self.path, mmap_mode="r").view(np.ndarray), os.getpid()
        return self._array[position]


class _Crops(Dataset):
    """The dataset's crops in order, for building a cache with DataLoader workers."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int) -> torch.Tensor:
        crop = self.dataset.crop_at(position)
        return torch.from_numpy(crop if crop.flags.writeable else crop.copy())


def cached_crops(dataset, content_sha256: str, workers: int = 0, progress: bool = True) -> CachedCrops | None:
    """The crop cache of ``dataset`` (built now if it does not exist), or None where the crop rule
    draws at random or the disk has no room for it (and it says why)."""
    if dataset.crop.random:
        logger.info(f"crop cache: not used for {dataset.data.path.name}: crop rule {dataset.crop.name} draws a new region "
                    "per sample and epoch")
        return None
    request = request_for(dataset, content_sha256)
    folder = cache_dir() / "crops"
    path = folder / f"{request.key}.npy"
    shape = (len(dataset), dataset.crop_size, dataset.crop_size, 3)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / f"{request.key}.lock", "w")
    except OSError as err:
        logger.warning(f"crop cache: not used for {dataset.data.path.name}: {folder} is not writable ({err.strerror or err}); "
                       "reading uncached (set HPBENCH_CACHE to a writable folder)")
        return None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per key, even across processes (torchrun ranks)
        if not _complete(path, shape):
            needed = int(np.prod(shape))
            free = shutil.disk_usage(folder).free
            if free < needed + FREE_DISK_MARGIN:
                logger.warning(f"crop cache: not built for {dataset.data.path.name}: it needs {needed / 1e9:.2f} GB and "
                               f"{folder} has {free / 1e9:.2f} GB free; reading uncached")
                return None
            _build(dataset, request, path, shape, workers, progress)
            _remove_outdated(folder, request)
    return CachedCrops(path, len(dataset))


def _complete(path: Path, shape: tuple) -> bool:
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return array.shape == shape and array.dtype == np.uint8


def _build(dataset, request: CacheRequest, path: Path, shape: tuple, workers: int, progress: bool) -> None:
    started = time.perf_counter()
    loader = DataLoader(_Crops(dataset), batch_size=64, num_workers=workers)
    with atomic_path(path) as partial:
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        start = 0
        for batch in tqdm(loader, desc=f"crop cache {dataset.data.path.stem}", unit="batch", disable=not progress):
            array[start:start + len(batch)] = batch.numpy()
            start += len(batch)
        array.flush()
        del array
    write_text_atomic(path.with_suffix(".json"), json.dumps({**vars(request), "count": shape[0]}, indent=2) + "\n")
    logger.info(f"crop cache: {shape[0]} crops of {shape[1]} px ({path.stat().st_size / 1e6:.1f} MB) of "
                f"{dataset.data.path.name} in {time.perf_counter() - started:.1f} s → {path}")


def _remove_outdated(folder: Path, request: CacheRequest) -> None:
    """Remove the caches made from another content of the same prepared file: nothing can match them again."""
    for meta in folder.glob("*.json"):
        try:
            made = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if made.get("file") == request.file and made.get("content_sha256") != request.content_sha256:
            meta.with_suffix(".npy").unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
