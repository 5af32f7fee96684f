"""KD's teacher cache: the convolutional ensemble's probabilities, computed once per training sample.

Stage 2 of KD distils a student from a teacher ensemble (A = 49 forward passes per image at p = 15,
s = 5). hpbench runs the ensemble once over a protocol's training samples and stores the averaged
probabilities in an HDF5 file; every student epoch then reads them, and never runs the teacher.

File layout: one group per training dataset with ``probabilities`` (n, 3, bins) float16 in the
teacher's convention and order, and ``keys`` (n,); root attributes name the teacher file's sha256,
the ensemble (pad, stride), the protocol and split, and each dataset's key-list sha256. A cache whose
attributes do not match the request is rebuilt, never silently reused.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from hpbench.data.headpose import dataset_for
from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError
from hpbench.io import atomic_path
from hpbench.models.ensemble import EnsembleSpec, ensemble_probabilities
from hpbench.models.inference import run_model
from hpbench.models.loading import load_model
from hpbench.pose import flip_horizontal, get_convention
from hpbench.protocols import Protocol, Selection


def _expected_attrs(teacher_sha256: str, spec: EnsembleSpec, protocol: Protocol, split: str,
                    selections: list[Selection]) -> dict:
    return {"teacher_sha256": teacher_sha256, "pad": spec.pad, "stride": spec.stride, "protocol": protocol.name,
            "protocol_version": protocol.version, "split": split,
            **{f"keys_sha256/{s.dataset}": s.keys_sha256 for s in selections}}


def _matches(path: Path, expected: dict) -> bool:
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as handle:
            return all(handle.attrs.get(name) == value for name, value in expected.items())
    except OSError:
        return False


def teacher_probabilities(teacher_path: str | Path, protocol: Protocol, split: str, selections: list[Selection],
                          spec: EnsembleSpec, cache: str | Path, crop: str | None = None, device: str = "cpu",
                          batch_size: int = 64, workers: int = 2, trust: bool = False,
                          progress: bool = True) -> dict[str, np.ndarray]:
    """Per dataset, the teacher ensemble's probabilities (n, 3, bins) aligned with the selection's
    indices; read from ``cache`` or computed once and written there."""
    teacher = load_model(teacher_path, trust=trust, device=device)
    if getattr(teacher.module, "rvc_head", None) is None:
        raise HpbenchError(f"{teacher_path}: a KD teacher needs an RvC head (kd_base, kd_student, hopenet)")
    cache = Path(cache)
    expected = _expected_attrs(teacher.sha256, spec, protocol, split, selections)
    if not _matches(cache, expected):
        _build(teacher, selections, spec, cache, expected, crop or teacher.crop or protocol.crop,
               teacher.preprocessing_for(protocol.input_size, own=True), protocol.missing_face, device, batch_size,
               workers, progress)
    with h5py.File(cache, "r") as handle:
        return {s.dataset: handle[f"{s.dataset}/probabilities"][()].astype(np.float32) for s in selections}


def _build(teacher, selections, spec, cache: Path, attrs: dict, crop: str, preprocessing: Preprocessing,
           missing_face: str, device, batch_size, workers, progress) -> None:
    with atomic_path(cache) as partial, h5py.File(partial, "w") as handle:
        for selection in selections:
            dataset = dataset_for(selection, crop, preprocessing, missing_face=missing_face, pad=spec.pad)
            probabilities, _, _ = run_model(
                dataset, lambda images: ensemble_probabilities(teacher.module, images, spec), device,
                batch_size, workers, f"teacher ensemble ({spec.size} crops) {selection.dataset}", progress)
            group = handle.create_group(selection.dataset)
            group.create_dataset("probabilities", data=probabilities.astype(np.float16), compression="gzip")
            group.create_dataset("keys", data=dataset.keys.astype(object), dtype=h5py.string_dtype())
        handle.attrs.update(attrs)
        handle.attrs["convention"] = teacher.convention


def flip_signs(convention: str) -> np.ndarray:
    """Which components of a convention's values change sign when the image is mirrored."""
    adapter = get_convention(convention)
    probe = np.array([[10.0, 20.0, 30.0]])
    values = adapter.from_canonical(probe)
    return (adapter.from_canonical(flip_horizontal(probe)) * values < 0)[0]


class TeacherTargets(Dataset):
    """A training Dataset whose items also carry the teacher's cached probabilities (``teacher``,
    (3, bins)); for a mirrored item the bins of the components that change sign are reversed."""

    def __init__(self, dataset, probabilities: np.ndarray, flipped_components):
        if len(probabilities) != len(dataset):
            raise ValueError("one row of teacher probabilities per sample")
        self.dataset, self.probabilities = dataset, probabilities
        self.flipped_components = np.asarray(flipped_components, bool)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int) -> dict:
        item = self.dataset[position]
        teacher = np.array(self.probabilities[position], dtype=np.float32)
        if item["flipped"]:
            teacher[self.flipped_components] = teacher[self.flipped_components, ::-1]
        item["teacher"] = torch.from_numpy(teacher)
        return item
