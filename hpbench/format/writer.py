"""Writing an hpbench file: one streaming writer, the only way a prepared file comes to exist.

Samples are appended in order and flushed in batches (memory bounded by the batch size); the file is
written as ``NAME.h5.<pid>-<random>.partial`` and appears under its name only on ``commit`` (hpbench.io.publish).
"""

from __future__ import annotations

import hashlib
import shutil
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hpbench import __version__
from hpbench.errors import HpbenchError
from hpbench.format.digest import FieldHasher, column, combine_digest
from hpbench.format.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    IMAGE_FORMATS,
    POSE_CONVENTION,
    Field,
    Layout,
    box_status_keys,
)
from hpbench.io import partial_path, publish
from hpbench.pose import rotation_from_ypr
from hpbench.provenance import utc_now


@dataclass
class Sample:
    """One sample as a converter produces it (images as the original encoded bytes)."""

    key: str
    image: bytes
    image_format: str
    height: int
    width: int
    ypr: Any = None  # (3,) canonical degrees, NaN for an angle the dataset lacks
    landmarks: Any = None  # (K, 2), NaN where missing
    boxes: dict[str, Any] = field(default_factory=dict)  # source → (4,) x1 y1 x2 y2
    box_status: dict[str, tuple[str, float, float]] = field(default_factory=dict)  # source → status, score, IoU
    meta: dict[str, Any] = field(default_factory=dict)
    joints: Any = None  # (J, 2)
    joints_visible: Any = None  # (J,) bool
    person_center: Any = None  # (2,)
    person_scale: Any = None
    depth: bytes | None = None  # 16-bit PNG


def sample_row(sample: Sample, layout: Layout) -> dict[str, Any]:
    """The values a sample contributes to each key; raises ValueError on a mismatch with the layout."""
    if sample.image_format not in IMAGE_FORMATS:
        raise ValueError(f"{sample.key}: image format must be one of {list(IMAGE_FORMATS)}")
    row: dict[str, Any] = {
        "key": sample.key,
        "image/encoded": np.frombuffer(sample.image, dtype=np.uint8),
        "image/format": sample.image_format,
        "image/height": sample.height,
        "image/width": sample.width,
    }
    if layout.task == "headpose":
        ypr = np.asarray(sample.ypr, dtype=np.float64)
        row["pose/ypr"] = ypr
        row["pose/rotation"] = pose_rotation(ypr)
    if layout.landmark_names:
        row["landmarks/xy"] = sample.landmarks
    if set(sample.boxes) != set(layout.box_sources):
        raise ValueError(f"{sample.key}: boxes {sorted(sample.boxes)} != layout {sorted(layout.box_sources)}")
    row.update({f"bbox/{source}": box for source, box in sample.boxes.items()})
    if set(sample.box_status) != set(layout.box_status):
        raise ValueError(f"{sample.key}: box status {sorted(sample.box_status)} != layout {sorted(layout.box_status)}")
    for source, values in sample.box_status.items():
        row.update(zip(box_status_keys(source), values))
    if set(sample.meta) != set(layout.meta):
        raise ValueError(f"{sample.key}: meta {sorted(sample.meta)} != layout {sorted(layout.meta)}")
    row.update({f"meta/{name}": value for name, value in sample.meta.items()})
    if layout.depth:
        row["depth/encoded"] = np.frombuffer(sample.depth, dtype=np.uint8)
    if layout.task == "bodypose":
        row["joints/xy"] = sample.joints
        row["joints/visible"] = sample.joints_visible
        row["person/center"] = sample.person_center
        row["person/scale"] = sample.person_scale
    return row


def pose_rotation(ypr: np.ndarray) -> np.ndarray:
    """``pose/rotation`` of a canonical pose: R = Rz(roll)·Ry(yaw)·Rx(pitch), or all NaN when an
    angle is missing (ETH-XGaze has no roll): a rotation needs all three angles."""
    if not np.all(np.isfinite(ypr)):
        return np.full((3, 3), np.nan)
    return rotation_from_ypr(ypr)


def create_key(h5: h5py.File, spec: Field, rows: int) -> h5py.Dataset:
    """An empty, resizable, chunked key (gzip-compressed where it is fixed-size)."""
    compress = {} if spec.variable_length else {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    return h5.create_dataset(spec.name, shape=(rows,) + spec.row_shape, maxshape=(None,) + spec.row_shape,
                             dtype=spec.h5_dtype(), chunks=(_chunk_rows(spec),) + spec.row_shape, track_times=False,
                             **compress)


def _chunk_rows(spec: Field) -> int:
    if spec.variable_length:
        return 1024
    row_bytes = max(1, int(np.prod(spec.row_shape, dtype=np.int64)) * spec.dtype.itemsize)
    return int(np.clip((256 * 1024) // row_bytes, 64, 8192))


ROOM_MARGIN = 8 * 2**20  # bytes of free space kept for HDF5's metadata and chunk cache when the file closes


class Writer:
    """Streams samples into ``path`` through a partial file of its own; the file appears only on ``commit``.

    Memory stays bounded by ``batch_size`` samples whatever the dataset size. Use as a context
    manager: leaving the block with an exception removes the partial file.
    """

    def __init__(self, path: str | Path, layout: Layout, source_manifest_sha256: str, batch_size: int = 256):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.layout = layout
        self.fields = layout.fields()
        self.batch_size = batch_size
        self.count = 0  # samples appended
        self._written = 0  # samples flushed to the file
        self._manifest = source_manifest_sha256
        self._pending: list[dict[str, Any]] = []
        self._key_hashes = array("Q")  # 8 bytes per sample, to refuse duplicate keys at commit
        self._hashers = {name: FieldHasher(spec) for name, spec in self.fields.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._h5 = h5py.File(self.partial, "w")
        for spec in self.fields.values():
            create_key(self._h5, spec, 0)
        if layout.landmark_names:
            self._h5["landmarks/xy"].attrs["names"] = list(layout.landmark_names)
        if layout.joint_names:
            self._h5["joints/xy"].attrs["names"] = list(layout.joint_names)
        for source in layout.box_sources:
            self._h5[f"bbox/{source}"].attrs["source"] = source

    def append(self, sample: Sample) -> None:
        self.append_row(sample_row(sample, self.layout))

    def append_row(self, row: dict[str, Any]) -> None:
        """Append one sample as ``sample_row`` made it (e.g. in a reading worker)."""
        self._key_hashes.append(int.from_bytes(hashlib.blake2b(row["key"].encode(), digest_size=8).digest(), "little"))
        self._pending.append(row)
        self.count += 1
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _room_for(self, rows: list[dict]) -> None:
        """Stop before a write the disk has no room for: HDF5 that meets a full disk leaves its file
        in a state whose closing can crash the process (measured: a segmentation fault)."""
        size = sum(len(row[name]) if spec.variable_length else int(np.prod(spec.row_shape)) * spec.dtype.itemsize
                   for name, spec in self.fields.items() for row in rows)
        needed = 2 * size + ROOM_MARGIN
        free = shutil.disk_usage(self.partial.parent).free
        if free < needed:
            raise HpbenchError(f"{self.partial.parent}: {free / 2**20:.1f} MiB free, and the next {len(rows)} samples "
                               f"need about {needed / 2**20:.1f} MiB (with room for HDF5 to finish the file): the "
                               "disk is full or nearly so. Nothing was written; free some space or choose another "
                               "--out")

    def _flush(self) -> None:
        if not self._pending:
            return
        self._room_for(self._pending)
        start, stop = self._written, self._written + len(self._pending)
        for name, spec in self.fields.items():
            rows = column(spec, [row[name] for row in self._pending])
            dataset = self._h5[name]
            dataset.resize(stop, axis=0)
            if spec.variable_length and len({len(row) for row in rows}) == 1:
                for offset, row in enumerate(rows):  # h5py mistakes equal-length rows for a 2-D array
                    dataset[start + offset] = row
            else:
                dataset[start:stop] = rows
            self._hashers[name].update(rows)
        self._written = stop
        self._pending.clear()

    def commit(self) -> str:
        """Finish the file, move it into place and return its content digest."""
        self._flush()
        self._refuse_duplicate_keys()
        field_digests = {name: hasher.hexdigest() for name, hasher in self._hashers.items()}
        for name, field_digest in field_digests.items():
            self._h5[name].attrs["sha256"] = field_digest
        digest = combine_digest(self.layout, self.count, field_digests)
        attrs = self._h5.attrs
        attrs.update(
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "dataset": self.layout.dataset,
                "task": self.layout.task,
                "count": self.count,
                "layout": self.layout.to_json(),
                "pose_convention": POSE_CONVENTION,
                "hpbench_version": __version__,
                "source_manifest_sha256": self._manifest,
                "content_sha256": digest,
                "created_utc": utc_now(),
            }
        )
        self._h5.close()
        publish(self.partial, self.path)
        return digest

    def _refuse_duplicate_keys(self) -> None:
        hashes = np.array(self._key_hashes, dtype=np.uint64)
        unique, counts = np.unique(hashes, return_counts=True)
        if np.all(counts == 1):
            return
        keys = self._h5["key"].asstr()[()]
        clashing = set(unique[counts > 1])
        candidates = [k for k, h in zip(keys, hashes) if h in clashing]
        duplicated = sorted({k for k in candidates if candidates.count(k) > 1})
        if duplicated:
            raise ValueError(f"duplicate sample key(s): {', '.join(repr(k) for k in duplicated[:5])}")

    def abort(self) -> None:
        if self._h5.id.valid:
            self._h5.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._h5.id.valid:
            self.commit()
