"""The layout of an hpbench file: its constants, and the keys a file holds for a given dataset.

The only place that spells key names (with the writer, reader and validator beside it); docs/FORMAT.md
is the contract. A file holds one dataset; every per-sample array has the sample count as first axis.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hpbench.errors import HpbenchError
from hpbench.pose import ANGLE_NAMES

FORMAT_NAME = "hpbench"
FORMAT_VERSION = 2  # 2: boxes are float64 (a crop rule truncating 469.99999 must not read 470.0)
POSE_CONVENTION = "3ddfa (yaw, pitch, roll) degrees; R = Rz(roll) Ry(yaw) Rx(pitch)"
TASKS = ("headpose", "bodypose")
IMAGE_FORMATS = {"jpeg": b"\xff\xd8", "png": b"\x89PNG\r\n\x1a\n"}
PERSON_BOX_PX = 200.0  # pixels per unit of person/scale (MPII's unit): the person box's side
META_KINDS = {"int": np.dtype("<i8"), "float": np.dtype("<f8"), "str": "str"}


class FormatError(HpbenchError):
    """A file that is not a valid hpbench file."""


@dataclass(frozen=True)
class Layout:
    """What one file holds besides the always-present keys: the part that differs per dataset."""

    dataset: str
    task: str = "headpose"
    pose_angles: tuple[str, ...] = ANGLE_NAMES
    landmark_names: tuple[str, ...] = ()
    box_sources: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)
    joint_names: tuple[str, ...] = ()
    depth: bool = False  # a depth map per sample, as a 16-bit PNG (millimetres)
    box_status: tuple[str, ...] = ()  # box sources with a per-sample status, score and IoU (detector boxes)
    box_rejected: tuple[str, ...] = ()  # status sources that keep, per fallback, the detection they rejected
    label_sources: tuple[str, ...] = ()  # other pose labels of the same samples (labels/<name>), e.g. imported ones

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if set(self.box_status) - set(self.box_sources):
            raise ValueError(f"box_status {self.box_status} must be among box_sources {self.box_sources}")
        if self.label_sources and self.task != "headpose":
            raise ValueError("label_sources hold head poses: a headpose layout only")
        if set(self.box_rejected) - set(self.box_status):
            raise ValueError(f"box_rejected {self.box_rejected} must be among box_status {self.box_status}")
        unknown = set(self.pose_angles) - set(ANGLE_NAMES)
        if unknown:
            raise ValueError(f"unknown angles {sorted(unknown)}")
        for name, kind in self.meta.items():
            if kind not in META_KINDS:
                raise ValueError(f"meta {name!r}: kind must be one of {list(META_KINDS)}, got {kind!r}")

    def to_json(self) -> str:
        raw = dataclasses.asdict(self)
        for name in ("box_rejected", "label_sources"):
            if not raw[name]:  # absent rather than empty: the layouts (and digests) of files made before them stay
                del raw[name]
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Layout":
        raw = json.loads(text)
        for name in ("pose_angles", "landmark_names", "box_sources", "joint_names", "box_status", "box_rejected",
                     "label_sources"):
            raw[name] = tuple(raw.get(name, ()))
        return cls(**raw)

    def fields(self) -> dict[str, "Field"]:
        """Every key of a file with this layout, with its dtype and per-sample shape."""
        specs = [
            Field("key", "str"),
            Field("image/encoded", "bytes"),
            Field("image/format", "str"),
            Field("image/height", np.dtype("<i4")),
            Field("image/width", np.dtype("<i4")),
        ]
        if self.task == "headpose":
            specs += [Field("pose/ypr", np.dtype("<f4"), (3,)), Field("pose/rotation", np.dtype("<f4"), (3, 3))]
            specs += [Field(label_key(name), np.dtype("<f8"), (3,)) for name in self.label_sources]
        if self.landmark_names:
            specs.append(Field("landmarks/xy", np.dtype("<f4"), (len(self.landmark_names), 2)))
        specs += [Field(f"bbox/{source}", np.dtype("<f8"), (4,)) for source in self.box_sources]
        for source in self.box_status:
            status, score, iou = box_status_keys(source)
            specs += [Field(status, "str"), Field(score, np.dtype("<f4")), Field(iou, np.dtype("<f4"))]
        specs += [Field(rejected_box_key(source), np.dtype("<f8"), (4,)) for source in self.box_rejected]
        specs += [Field(f"meta/{name}", META_KINDS[kind]) for name, kind in sorted(self.meta.items())]
        if self.depth:
            specs.append(Field("depth/encoded", "bytes"))
        if self.task == "bodypose":
            joints = len(self.joint_names)
            specs += [
                Field("joints/xy", np.dtype("<f4"), (joints, 2)),
                Field("joints/visible", np.dtype("bool"), (joints,)),
                Field("person/center", np.dtype("<f4"), (2,)),
                Field("person/scale", np.dtype("<f4")),
            ]
        return {spec.name: spec for spec in specs}


@dataclass(frozen=True)
class Field:
    """One per-sample key: ``dtype`` is a numpy dtype, or "str" / "bytes" for variable-length rows."""

    name: str
    dtype: Any
    row_shape: tuple[int, ...] = ()

    @property
    def variable_length(self) -> bool:
        return isinstance(self.dtype, str)

    def h5_dtype(self):
        if self.dtype == "str":
            return h5py.string_dtype("utf-8")
        if self.dtype == "bytes":
            return h5py.vlen_dtype(np.uint8)
        return self.dtype

    def describe(self) -> str:
        return f"{self.dtype if self.variable_length else self.dtype.name}{list(self.row_shape)}"


def box_status_keys(source: str) -> tuple[str, str, str]:
    """The per-sample status, score and IoU keys of a detector box source."""
    return f"bbox/{source}_status", f"bbox/{source}_score", f"bbox/{source}_iou"


def label_key(name: str) -> str:
    """The key of a label source: (yaw, pitch, roll) in hpbench's convention; a NaN row has no label."""
    return f"labels/{name}"


def rejected_box_key(source: str) -> str:
    """The key of the detections a detector box source rejected (a fallback's best candidate; NaN rows elsewhere)."""
    return f"bbox/{source}_rejected"


def prepared_path(data_dir: str | Path, dataset: str) -> Path:
    """Where ``hpbench prepare`` writes a dataset, and where every later step reads it."""
    return Path(data_dir) / f"{dataset}.h5"
