"""The hpbench HDF5 layout, format version 1: one writer, one reader, one validator.

This is the only module that knows the key names inside a file; docs/FORMAT.md is the contract.
A file holds one dataset. Every per-sample array has the sample count as its first axis.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import cv2
import h5py
import numpy as np

from hpbench import __version__
from hpbench.errors import HpbenchError
from hpbench.pose import ANGLE_NAMES, rotation_from_ypr

FORMAT_NAME = "hpbench"
FORMAT_VERSION = 1
POSE_CONVENTION = "3ddfa (yaw, pitch, roll) degrees; R = Rz(roll) Ry(yaw) Rx(pitch)"
TASKS = ("headpose", "bodypose")
IMAGE_FORMATS = {"jpeg": b"\xff\xd8", "png": b"\x89PNG\r\n\x1a\n"}
META_KINDS = {"int": np.dtype("<i8"), "float": np.dtype("<f8"), "str": "str"}
_READ_BLOCK = 4096


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

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if set(self.box_status) - set(self.box_sources):
            raise ValueError(f"box_status {self.box_status} must be among box_sources {self.box_sources}")
        unknown = set(self.pose_angles) - set(ANGLE_NAMES)
        if unknown:
            raise ValueError(f"unknown angles {sorted(unknown)}")
        for name, kind in self.meta.items():
            if kind not in META_KINDS:
                raise ValueError(f"meta {name!r}: kind must be one of {list(META_KINDS)}, got {kind!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Layout":
        raw = json.loads(text)
        for name in ("pose_angles", "landmark_names", "box_sources", "joint_names", "box_status"):
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
        if self.landmark_names:
            specs.append(Field("landmarks/xy", np.dtype("<f4"), (len(self.landmark_names), 2)))
        specs += [Field(f"bbox/{source}", np.dtype("<f4"), (4,)) for source in self.box_sources]
        for source in self.box_status:
            specs += [Field(f"bbox/{source}_status", "str"), Field(f"bbox/{source}_score", np.dtype("<f4")),
                      Field(f"bbox/{source}_iou", np.dtype("<f4"))]
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
        row["pose/rotation"] = rotation_from_ypr(ypr)
    if layout.landmark_names:
        row["landmarks/xy"] = sample.landmarks
    if set(sample.boxes) != set(layout.box_sources):
        raise ValueError(f"{sample.key}: boxes {sorted(sample.boxes)} != layout {sorted(layout.box_sources)}")
    row.update({f"bbox/{source}": box for source, box in sample.boxes.items()})
    if set(sample.box_status) != set(layout.box_status):
        raise ValueError(f"{sample.key}: box status {sorted(sample.box_status)} != layout {sorted(layout.box_status)}")
    for source, (status, score, iou) in sample.box_status.items():
        row.update({f"bbox/{source}_status": status, f"bbox/{source}_score": score, f"bbox/{source}_iou": iou})
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


def _column(spec: Field, values: list) -> np.ndarray:
    """A batch of rows as the array written to (and hashed for) one key."""
    if spec.variable_length:
        column = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):  # element-wise: numpy would broadcast equal-length rows
            column[i] = value if spec.dtype == "str" else np.asarray(value, dtype=np.uint8)
        return column
    column = np.asarray(values, dtype=spec.dtype)
    if column.shape[1:] != spec.row_shape:
        raise ValueError(f"{spec.name}: rows of shape {column.shape[1:]}, expected {spec.row_shape}")
    return column


class _FieldHasher:
    """sha256 over a key's rows in order; length-prefixed for variable-length rows."""

    def __init__(self):
        self._hash = hashlib.sha256()

    def update(self, spec: Field, column: np.ndarray) -> None:
        if not spec.variable_length:
            self._hash.update(np.ascontiguousarray(column, dtype=spec.dtype).tobytes())
            return
        for value in column:
            raw = value.encode("utf-8") if spec.dtype == "str" else np.asarray(value, np.uint8).tobytes()
            self._hash.update(len(raw).to_bytes(8, "little"))
            self._hash.update(raw)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _combine_digest(layout: Layout, count: int, field_digests: dict[str, str]) -> str:
    total = hashlib.sha256()
    total.update(layout.to_json().encode())
    total.update(str(count).encode())
    for name in sorted(field_digests):
        total.update(f"\0{name}\0{field_digests[name]}".encode())
    return total.hexdigest()


def _create(h5: h5py.File, spec: Field, rows: int) -> h5py.Dataset:
    compress = {} if spec.variable_length else {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    return h5.create_dataset(spec.name, shape=(rows,) + spec.row_shape, maxshape=(None,) + spec.row_shape,
                             dtype=spec.h5_dtype(), chunks=(_chunk_rows(spec),) + spec.row_shape, track_times=False,
                             **compress)


def _field_digest(spec: Field, values) -> str:
    hasher = _FieldHasher()
    hasher.update(spec, _column(spec, list(values)))
    return hasher.hexdigest()


def add_box_source(path: str | Path, source: str, boxes, status=None, score=None, iou=None,
                   attrs: dict | None = None) -> str:
    """Add (or replace) the box source ``bbox/<source>`` of a prepared file, in place, with optional
    per-sample ``status`` / ``score`` / ``iou``; the layout and the content digest follow. Returns the
    new content digest."""
    try:
        handle = h5py.File(path, "r+")
    except OSError as err:
        raise FormatError(f"{path}: cannot be opened for writing ({err}); close it in other programs first") from None
    with handle as h5:
        layout = Layout.from_json(h5.attrs["layout"])
        count = int(h5.attrs["count"])
        sources = layout.box_sources + (() if source in layout.box_sources else (source,))
        with_status = tuple(s for s in layout.box_status if s != source) + ((source,) if status is not None else ())
        new_layout = dataclasses.replace(layout, box_sources=sources, box_status=with_status)
        values = {f"bbox/{source}": boxes}
        if status is not None:
            values.update({f"bbox/{source}_status": status, f"bbox/{source}_score": score, f"bbox/{source}_iou": iou})
        fields = new_layout.fields()
        for name in [f"bbox/{source}", f"bbox/{source}_status", f"bbox/{source}_score", f"bbox/{source}_iou"]:
            if name in h5:
                del h5[name]
        for name, column in values.items():
            spec = fields[name]
            column = _column(spec, list(column))
            if len(column) != count:
                raise ValueError(f"{name}: {len(column)} rows for {count} samples")
            dataset = _create(h5, spec, count)
            dataset[:] = column
            dataset.attrs["sha256"] = _field_digest(spec, column)
        h5[f"bbox/{source}"].attrs.update({"source": source, **(attrs or {})})
        digests = {}
        for name, spec in fields.items():
            stored = h5[name].attrs.get("sha256")
            if stored is None:  # a file written before per-key digests: hash it now
                hasher = _FieldHasher()
                for block in _iter_blocks(h5[name], count):
                    hasher.update(spec, block)
                stored = hasher.hexdigest()
                h5[name].attrs["sha256"] = stored
            digests[name] = stored
        digest = _combine_digest(new_layout, count, digests)
        h5.attrs.update({"layout": new_layout.to_json(), "content_sha256": digest})
    return digest


def _chunk_rows(spec: Field) -> int:
    if spec.variable_length:
        return 1024
    row_bytes = max(1, int(np.prod(spec.row_shape, dtype=np.int64)) * spec.dtype.itemsize)
    return int(np.clip((256 * 1024) // row_bytes, 64, 8192))


class Writer:
    """Streams samples into ``path`` through ``path.partial``; the file appears only on ``commit``.

    Memory stays bounded by ``batch_size`` samples whatever the dataset size. Use as a context
    manager: leaving the block with an exception removes the partial file.
    """

    def __init__(self, path: str | Path, layout: Layout, source_manifest_sha256: str, batch_size: int = 256):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.layout = layout
        self.fields = layout.fields()
        self.batch_size = batch_size
        self.count = 0  # samples appended
        self._written = 0  # samples flushed to the file
        self._manifest = source_manifest_sha256
        self._pending: list[dict[str, Any]] = []
        self._key_hashes = array("Q")  # 8 bytes per sample, to refuse duplicate keys at commit
        self._hashers = {name: _FieldHasher() for name in self.fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._h5 = h5py.File(self.partial, "w")
        for spec in self.fields.values():
            _create(self._h5, spec, 0)
        if layout.landmark_names:
            self._h5["landmarks/xy"].attrs["names"] = list(layout.landmark_names)
        if layout.joint_names:
            self._h5["joints/xy"].attrs["names"] = list(layout.joint_names)
        for source in layout.box_sources:
            self._h5[f"bbox/{source}"].attrs["source"] = source

    def append(self, sample: Sample) -> None:
        self._key_hashes.append(int.from_bytes(hashlib.blake2b(sample.key.encode(), digest_size=8).digest(), "little"))
        self._pending.append(sample_row(sample, self.layout))
        self.count += 1
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        start, stop = self._written, self._written + len(self._pending)
        for name, spec in self.fields.items():
            column = _column(spec, [row[name] for row in self._pending])
            dataset = self._h5[name]
            dataset.resize(stop, axis=0)
            if spec.variable_length and len({len(row) for row in column}) == 1:
                for offset, row in enumerate(column):  # h5py mistakes equal-length rows for a 2-D array
                    dataset[start + offset] = row
            else:
                dataset[start:stop] = column
            self._hashers[name].update(spec, column)
        self._written = stop
        self._pending.clear()

    def commit(self) -> str:
        """Finish the file, move it into place and return its content digest."""
        self._flush()
        self._refuse_duplicate_keys()
        field_digests = {name: hasher.hexdigest() for name, hasher in self._hashers.items()}
        for name, field_digest in field_digests.items():
            self._h5[name].attrs["sha256"] = field_digest
        digest = _combine_digest(self.layout, self.count, field_digests)
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
                "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        self._h5.close()
        with open(self.partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.partial, self.path)
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


def open_h5(path: str | Path) -> h5py.File:
    """Open an hpbench file read-only, with a clear error for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise FormatError(f"{path}: not an HDF5 file ({err})") from None
    if handle.attrs.get("format") != FORMAT_NAME:
        handle.close()
        raise FormatError(f"{path}: not an hpbench file (root attribute 'format' is not {FORMAT_NAME!r})")
    version = int(handle.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        handle.close()
        raise FormatError(f"{path}: format version {version}; this hpbench reads version {FORMAT_VERSION}")
    return handle


class HPFile:
    """Read access to one hpbench file.

    The HDF5 handle is opened on first use in each process (and reopened after a fork, so one object
    can be handed to DataLoader workers); it is never reopened per sample. Small per-sample arrays are
    read once and cached.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._handle: h5py.File | None = None
        self._pid: int | None = None
        self._cache: dict[str, np.ndarray] = {}
        handle = self._h5()
        self.layout = Layout.from_json(handle.attrs["layout"])
        self.attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in handle.attrs.items()}

    def _h5(self) -> h5py.File:
        if self._handle is None or self._pid != os.getpid():
            self._handle = open_h5(self.path)
            self._pid = os.getpid()
        return self._handle

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_handle=None, _pid=None, _cache={})
        return state

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle = None

    def __len__(self) -> int:
        return int(self.attrs["count"])

    def _array(self, name: str) -> np.ndarray:
        if name not in self._cache:
            dataset = self._h5()[name]
            self._cache[name] = dataset.asstr()[()] if h5py.check_string_dtype(dataset.dtype) else dataset[()]
        return self._cache[name]

    @property
    def keys(self) -> np.ndarray:
        return self._array("key")

    @property
    def ypr(self) -> np.ndarray:
        return self._array("pose/ypr")

    @property
    def rotation(self) -> np.ndarray:
        return self._array("pose/rotation")

    @property
    def landmarks(self) -> np.ndarray:
        return self._array("landmarks/xy")

    @property
    def image_sizes(self) -> np.ndarray:
        """(N, 2) height, width."""
        return np.stack([self._array("image/height"), self._array("image/width")], axis=1)

    def box(self, source: str) -> np.ndarray:
        if source not in self.layout.box_sources:
            raise FormatError(f"{self.path}: no box source {source!r} (has: {', '.join(self.layout.box_sources)})")
        return self._array(f"bbox/{source}")

    def box_status(self, source: str) -> np.ndarray | None:
        """Per-sample status of a detector box source ("detected", "fallback", "missing"), or None."""
        return self._array(f"bbox/{source}_status") if source in self.layout.box_status else None

    def meta(self, name: str) -> np.ndarray:
        if name not in self.layout.meta:
            raise FormatError(f"{self.path}: no meta column {name!r} (has: {', '.join(sorted(self.layout.meta))})")
        return self._array(f"meta/{name}")

    @property
    def joints(self) -> np.ndarray:
        return self._array("joints/xy")

    @property
    def joints_visible(self) -> np.ndarray:
        return self._array("joints/visible")

    @property
    def person_center(self) -> np.ndarray:
        return self._array("person/center")

    @property
    def person_scale(self) -> np.ndarray:
        return self._array("person/scale")

    def encoded_image(self, index: int) -> bytes:
        return self._h5()["image/encoded"][index].tobytes()

    def image(self, index: int) -> np.ndarray:
        """The image decoded as BGR uint8 (grey images are expanded to three channels)."""
        return self._decode(self.encoded_image(index), index, "image", cv2.IMREAD_COLOR)

    def depth(self, index: int) -> np.ndarray:
        """The depth map (uint16 millimetres, 0 = no measurement)."""
        if not self.layout.depth:
            raise FormatError(f"{self.path}: holds no depth maps (convert with --with-depth)")
        data = self._h5()["depth/encoded"][index].tobytes()
        return self._decode(data, index, "depth map", cv2.IMREAD_UNCHANGED)

    def _decode(self, data: bytes, index: int, what: str, flags: int) -> np.ndarray:
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        if decoded is None:
            raise FormatError(f"{self.path}: {what} {index} ({self.keys[index]}) cannot be decoded")
        return decoded


# ---------------------------------------------------------------------------------------------
# Validation


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warn" | "fail"
    message: str = ""


@dataclass
class Validation:
    path: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def add(self, name: str, problems: list[str], ok_message: str = "", warn: bool = False) -> None:
        status = ("warn" if warn else "fail") if problems else "ok"
        shown = problems[:5] + ([f"… and {len(problems) - 5} more"] if len(problems) > 5 else [])
        self.checks.append(Check(name, status, "; ".join(shown) if problems else ok_message))


def _iter_blocks(dataset: h5py.Dataset, count: int) -> Iterator[np.ndarray]:
    as_text = h5py.check_string_dtype(dataset.dtype) is not None
    for start in range(0, count, _READ_BLOCK):
        stop = min(count, start + _READ_BLOCK)
        yield dataset.asstr()[start:stop] if as_text else dataset[start:stop]


def validate(path: str | Path) -> Validation:
    """Check a file against the format: keys, dtypes, shapes, uniqueness, value rules, content digest."""
    report = Validation(Path(path))
    try:
        handle = open_h5(path)
    except FormatError as err:
        report.add("hpbench file", [str(err)])
        return report
    with handle:
        missing_attrs = [a for a in ("dataset", "task", "count", "layout", "content_sha256") if a not in handle.attrs]
        report.add("root attributes", [f"missing attribute {a!r}" for a in missing_attrs], "present")
        if missing_attrs:
            return report
        try:
            layout = Layout.from_json(handle.attrs["layout"])
        except (ValueError, TypeError, KeyError) as err:
            report.add("layout", [f"unreadable layout attribute: {err}"])
            return report
        count = int(handle.attrs["count"])
        expected = layout.fields()
        present = _dataset_names(handle)
        problems = [f"missing key {name!r}" for name in expected if name not in present]
        problems += [f"unexpected key {name!r}" for name in sorted(present - set(expected))]
        report.add("keys", problems, f"{len(expected)} keys as the layout says")
        problems = []
        for name, spec in expected.items():
            if name in present:
                problems += _shape_problems(handle[name], spec, count)
        report.add("dtypes and shapes", problems, f"{count} samples")
        if not report.ok:
            return report
        keys = handle["key"].asstr()[()]
        unique, counts = np.unique(keys, return_counts=True)
        dupes = [f"key {k!r} appears {c} times" for k, c in zip(unique, counts) if c > 1]
        dupes += ["empty key"] * int(np.sum(keys == ""))
        report.add("unique keys", dupes, f"{count} distinct")
        formats = handle["image/format"].asstr()[()]
        magic = {"image/encoded": formats, "depth/encoded": np.full(count, "png")}
        digests, encoded_problems = {}, []
        for name in expected:  # one pass over each key: its digest, and the file signatures of encoded ones
            hasher = _FieldHasher()
            for start, block in zip(range(0, count, _READ_BLOCK), _iter_blocks(handle[name], count)):
                hasher.update(expected[name], block)
                if name in magic:
                    encoded_problems += _signature_problems(name, block, magic[name][start:start + len(block)], start)
            digests[name] = hasher.hexdigest()
        report.add("value rules", _value_problems(handle, layout, formats) + encoded_problems,
                   "NaN, box and image rules hold")
        changed = [name for name, value in digests.items()
                   if handle[name].attrs.get("sha256", value) != value]
        report.add("key digests", [f"{name}: content differs from its recorded sha256" for name in changed],
                   "each key matches its recorded sha256")
        digest = _combine_digest(layout, count, digests)
        stored = handle.attrs["content_sha256"]
        report.add(
            "content digest",
            [] if digest == stored else [f"recomputed {digest[:16]}… but the file says {stored[:16]}…"],
            digest,
        )
    return report


def _dataset_names(handle: h5py.File) -> set[str]:
    names: set[str] = set()
    handle.visititems(lambda name, obj: names.add(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _shape_problems(dataset: h5py.Dataset, spec: Field, count: int) -> list[str]:
    problems = []
    if dataset.shape != (count,) + spec.row_shape:
        problems.append(f"{spec.name}: shape {dataset.shape}, expected {(count,) + spec.row_shape}")
    if spec.dtype == "str":
        ok = h5py.check_string_dtype(dataset.dtype) is not None
    elif spec.dtype == "bytes":
        ok = h5py.check_vlen_dtype(dataset.dtype) == np.dtype(np.uint8)
    else:
        ok = dataset.dtype == spec.dtype
    if not ok:
        problems.append(f"{spec.name}: dtype {dataset.dtype}, expected {spec.describe()}")
    return problems


def _signature_problems(name: str, rows, formats, start: int) -> list[str]:
    """Rows of an encoded key that do not start with their format's file signature."""
    return [f"{name}[{start + offset}] does not start like a {fmt} file"
            for offset, (data, fmt) in enumerate(zip(rows, formats))
            if fmt in IMAGE_FORMATS and data[:len(IMAGE_FORMATS[fmt])].tobytes() != IMAGE_FORMATS[fmt]]


def _value_problems(handle: h5py.File, layout: Layout, formats: np.ndarray) -> list[str]:
    problems = []
    heights, widths = handle["image/height"][()], handle["image/width"][()]
    if np.any(heights <= 0) or np.any(widths <= 0):
        problems.append("image/height and image/width must be positive")
    bad = sorted(set(formats) - set(IMAGE_FORMATS))
    if bad:
        problems.append(f"image/format has unknown values {bad}")
    if layout.task == "headpose":
        problems += _pose_problems(handle["pose/ypr"][()], handle["pose/rotation"][()], layout.pose_angles)
    if layout.landmark_names:
        xy = handle["landmarks/xy"][()]
        if np.any(np.isnan(xy[..., 0]) != np.isnan(xy[..., 1])):
            problems.append("landmarks/xy: a point with exactly one NaN coordinate")
    for source in layout.box_sources:
        boxes = handle[f"bbox/{source}"][()]
        missing = np.isnan(boxes).all(axis=1)  # a sample without this box is a row of NaN
        present = boxes[~missing]
        if not np.all(np.isfinite(present)):
            problems.append(f"bbox/{source}: a row partly NaN or infinite")
        elif np.any(present[:, 2] < present[:, 0]) or np.any(present[:, 3] < present[:, 1]):
            problems.append(f"bbox/{source}: x2 < x1 or y2 < y1")
    if layout.task == "bodypose":
        xy, visible = handle["joints/xy"][()], handle["joints/visible"][()]
        if np.any(visible & ~np.isfinite(xy).all(axis=-1)):
            problems.append("joints/xy: a visible joint with NaN coordinates")
    return problems


def _pose_problems(ypr: np.ndarray, rotation: np.ndarray, angles: Iterable[str]) -> list[str]:
    problems = []
    present = np.array([name in angles for name in ANGLE_NAMES])
    if np.any(~np.isfinite(ypr[:, present])):
        problems.append(f"pose/ypr: NaN or infinite value in an angle the dataset has ({', '.join(angles)})")
    if np.any(~np.isnan(ypr[:, ~present])):
        problems.append("pose/ypr: a value in an angle the dataset lacks (must be NaN)")
    complete = np.all(np.isfinite(ypr), axis=1)
    if np.any(~np.isnan(rotation[~complete])):
        problems.append("pose/rotation: finite where an angle is missing")
    if complete.any():
        error = np.abs(rotation_from_ypr(ypr[complete]) - rotation[complete]).max()
        if error > 1e-5:
            problems.append(f"pose/rotation differs from pose/ypr by up to {error:.2g}")
    return problems
