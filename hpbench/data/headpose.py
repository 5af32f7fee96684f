"""The head-pose torch Dataset over a prepared file: boxes, a named crop rule, preprocessing.

Usable on its own in any training loop::

    from torch.utils.data import DataLoader
    from hpbench.data.headpose import dataset_for
    from hpbench.protocols import load_protocol, select

    (selection,) = select(load_protocol("p1"), "test", "data")[:1]
    dataset = dataset_for(selection, crop="kd")          # the protocol's boxes, with its fallback
    for batch in DataLoader(dataset, batch_size=64, num_workers=2):
        images = dataset.preprocessing.normalise(batch["image"].to(device))  # (B,3,224,224) uint8 → float
        batch["ypr"], batch["index"]                     # (B,3) degrees, (B,)

Items hold uint8 images in the model's channel order; the normalisation runs on a whole batch on its
device (``Preprocessing.normalise``). The file is opened once per DataLoader worker
(hpbench.format.HPFile), images are decoded with OpenCV; ``dataset.fallback`` marks the samples
scored on their dataset's reference box. ``dataset_for(..., cache=True)`` reads the crops from the
crop cache (hpbench.data.crop_cache) where the crop rule allows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from hpbench.data.crop_cache import cached_crops
from hpbench.data.crops import CROP_RULES, crop_image, expand_box
from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError
from hpbench.format import HPFile


def resolve_boxes(data: HPFile, indices: Sequence[int], source: str | None, reference: str | None = None):
    """(boxes (n, 4), fallback (n,) bool) for the selected samples.

    The ``source`` box is used where the file has one (a finite row, and status "detected" where the
    source carries a status); elsewhere the ``reference`` box, and the sample counts as a fallback.
    """
    indices = np.asarray(indices, dtype=np.intp)
    reference = reference or source
    if source is None:
        raise HpbenchError(f"{data.path}: no box source given")
    if source not in data.layout.box_sources:
        hint = (f" run `hpbench bboxes relabel {data.layout.dataset} --weights <detector.pt>` first, or evaluate on"
                " each dataset's own reference box with --boxes reference (recorded, and shown apart on the "
                "leaderboard)" if source == "yolo" else "")
        raise HpbenchError(f"{data.path} has no '{source}' boxes (has: {', '.join(data.layout.box_sources)})"
                           f"{';' + hint if hint else ''}")
    boxes = data.box(source)[indices].astype(np.float64)
    usable = np.isfinite(boxes).all(axis=1)
    status = data.box_status(source)
    if status is not None:
        usable &= status[indices] == "detected"
    if usable.all() or reference == source:
        return boxes, ~usable
    boxes[~usable] = data.box(reference)[indices][~usable]
    return boxes, ~usable


class HeadPoseDataset(Dataset):
    """Crops of selected samples of one prepared file, with their canonical pose and position.

    ``data`` is an HPFile or its path. ``augment`` (hpbench.data.augment.PoseAugmentation) runs on
    the crop before normalisation, with a generator seeded by (seed, epoch, position): the same
    augmentation whatever the worker count; an item says whether it was mirrored (``flipped``).
    ``pad`` > 0 gives crops of input_size + 2·pad pixels (convolutional ensembles). ``fallback`` marks
    the samples on their dataset's reference box because ``box_source`` had none for them.
    ``degrade`` (hpbench.data.perturb.Degradation) changes each cut crop (sensitivity reports).
    ``crops`` (hpbench.data.crop_cache.CachedCrops) holds the crops already cut, where they are cached.
    ``truth``: the selected samples' labels where they are not the file's own (a protocol entry's
    label source, hpbench.protocols.Selection.truth).
    """

    def __init__(self, data: HPFile | str | Path, indices: Sequence[int], boxes: np.ndarray, crop: str = "kd",
                 preprocessing: Preprocessing = Preprocessing(), augment=None, seed: int = 0, pad: int = 0,
                 fallback: np.ndarray | None = None, box_source: str = "", degrade=None, truth=None):
        self.data = data if isinstance(data, HPFile) else HPFile(data)
        self.indices = np.asarray(indices, dtype=np.intp)
        self.boxes = np.asarray(boxes, dtype=np.float64)
        if len(self.boxes) != len(self.indices):
            raise ValueError("one box per selected sample")
        self.crop = CROP_RULES.get(crop)
        self.preprocessing = preprocessing
        self.augment, self.seed, self.epoch = augment, seed, 0
        self.pad = pad
        self.ypr = (self.data.ypr[self.indices] if truth is None else np.asarray(truth)).astype(np.float32)
        self.fallback = np.zeros(len(self.indices), bool) if fallback is None else np.asarray(fallback, bool)
        self.box_source = box_source
        self.degrade = degrade  # hpbench.data.perturb.Degradation of the cut crop, or None
        self.crops = None

    @property
    def crop_size(self) -> int:
        """The side of the crops before augmentation: input size + 2·pad + the augmentation's margin."""
        return self.preprocessing.input_size + 2 * self.pad + getattr(self.augment, "crop_margin", 0)

    @property
    def keys(self) -> np.ndarray:
        return self.data.keys[self.indices]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def crop_at(self, position: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """The BGR crop of the position-th selected sample, before augmentation and normalisation
        (a random crop rule draws from ``rng``)."""
        if self.crops is not None:
            return self.crops[position]
        index, size = self.indices[position], self.preprocessing.input_size
        box = expand_box(self.boxes[position], size, self.pad) if self.pad else self.boxes[position]
        try:
            crop = crop_image(self.data.image(index), box, self.crop, self.crop_size,
                              self.preprocessing.resize_kernel, rng)
            return self.degrade.apply(crop) if self.degrade is not None else crop
        except ValueError as err:
            raise HpbenchError(f"{self.data.path}: sample {self.data.keys[index]}: {err}") from None

    def __getitem__(self, position: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, position]) if self.augment is not None else None
        image, ypr, flipped = self.crop_at(position, rng), self.ypr[position], False
        if self.augment is not None:
            image, ypr, flipped = self.augment(image, ypr, rng)
        return {"image": self.preprocessing.to_uint8(image), "ypr": torch.as_tensor(ypr, dtype=torch.float32),
                "index": int(self.indices[position]), "position": position, "flipped": flipped}


# What a protocol may do with a sample that lacks its preferred box: score it on the dataset's own box
# (counted) or refuse the run.
MISSING_FACE_RULES = ("fallback", "refuse")


def dataset_for(selection, crop: str, preprocessing: Preprocessing = Preprocessing(), boxes: str | None = None,
                missing_face: str = "fallback", augment=None, seed: int = 0, pad: int = 0, cache: bool = False,
                workers: int = 0, progress: bool = True, box_change=None, degrade=None) -> HeadPoseDataset:
    """The Dataset of one protocol selection (hpbench.protocols.Selection), its boxes resolved.

    ``boxes`` replaces the entry's box source: a source name, or "reference" for the dataset's own
    box. ``missing_face`` is the protocol's rule for a sample without its preferred box: "fallback"
    (the reference box, counted in ``dataset.fallback``) or "refuse" (an error naming the samples).
    ``cache`` reads the crops from the crop cache (built with ``workers`` if missing) where the crop
    rule draws nothing at random. ``box_change`` and ``degrade`` (hpbench.data.perturb) change the
    boxes and the crops, one controlled change at a time.
    """
    if missing_face not in MISSING_FACE_RULES:
        raise HpbenchError(f"missing_face {missing_face!r}: one of {', '.join(MISSING_FACE_RULES)}")
    entry = selection.entry
    source = entry.reference if boxes == "reference" else boxes or entry.boxes
    resolved, fallback = resolve_boxes(selection.data, selection.indices, source, entry.reference)
    if missing_face == "refuse" and fallback.any():
        keys = selection.data.keys[selection.indices][fallback]
        raise HpbenchError(f"{selection.data.path}: {int(fallback.sum())} selected samples have no '{source}' box "
                           f"(e.g. {', '.join(map(str, keys[:3]))}) and the protocol refuses a fallback")
    if box_change is not None:
        resolved = box_change.apply(resolved)
    dataset = HeadPoseDataset(selection.data, selection.indices, resolved, crop, preprocessing, augment, seed, pad,
                              fallback, source, degrade, selection.truth)
    if cache:
        dataset.crops = cached_crops(dataset, selection.content_sha256, workers, progress)
    return dataset
