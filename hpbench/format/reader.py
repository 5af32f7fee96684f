"""Reading an hpbench file: ``open_h5`` (read-only, with clear errors) and ``HPFile``."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import h5py
import numpy as np

from hpbench.errors import HpbenchError
from hpbench.hdf5 import outside_references
from hpbench.format.image_size import declared_size, size_problem
from hpbench.format.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    IMAGE_FORMATS,
    FormatError,
    Layout,
    box_status_keys,
    label_key,
    prepared_path,
    rejected_box_key,
)


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
        raise FormatError(f"{path}: format version {version}; this hpbench reads version {FORMAT_VERSION} "
                          "(docs/FORMAT.md says what changed): run hpbench prepare on the raw dataset again")
    outside = outside_references(handle, soft_links=True)
    if outside:
        handle.close()
        raise FormatError(f"{path}: reads values from outside itself ({'; '.join(outside[:3])}); hpbench never "
                          "writes links, external storage or virtual datasets: prepare the file again")
    return handle


class _Key:
    """A per-sample key of the file as a read-only attribute (read once, then cached)."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, data: "HPFile | None", owner=None):
        return self if data is None else data._array(self.name)


class HPFile:
    """Read access to one hpbench file.

    The HDF5 handle is opened on first use in each process (and reopened after a fork, so one object
    can be handed to DataLoader workers); it is never reopened per sample. Small per-sample arrays are
    read once and cached.
    """

    keys, ypr, rotation, landmarks = _Key("key"), _Key("pose/ypr"), _Key("pose/rotation"), _Key("landmarks/xy")
    joints, joints_visible = _Key("joints/xy"), _Key("joints/visible")
    person_center, person_scale = _Key("person/center"), _Key("person/scale")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._handle: h5py.File | None = None
        self._pid: int | None = None
        self._cache: dict[str, np.ndarray] = {}
        self._rows: dict[str, _Rows] = {}
        handle = self._h5()
        self.layout = Layout.from_json(handle.attrs["layout"])
        self.attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in handle.attrs.items()}

    def _h5(self) -> h5py.File:
        if self._handle is None or self._pid != os.getpid():
            self._handle = open_h5(self.path)
            self._pid = os.getpid()
            self._rows = {}
        return self._handle

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_handle=None, _pid=None, _cache={}, _rows={})
        return state

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
        self._handle, self._rows = None, {}

    def __len__(self) -> int:
        return int(self.attrs["count"])

    def _array(self, name: str) -> np.ndarray:
        if name not in self._cache:
            dataset = self._h5()[name]
            self._cache[name] = dataset.asstr()[()] if h5py.check_string_dtype(dataset.dtype) else dataset[()]
        return self._cache[name]

    @property
    def image_sizes(self) -> np.ndarray:
        """(N, 2) height, width."""
        return np.stack([self._array("image/height"), self._array("image/width")], axis=1)

    def box(self, source: str) -> np.ndarray:
        if source not in self.layout.box_sources:
            raise FormatError(f"{self.path}: no box source {source!r} (has: {', '.join(self.layout.box_sources)}; "
                              "hpbench bboxes relabel or hpbench bboxes import adds one)")
        return self._array(f"bbox/{source}")

    def pose(self, labels: str | None = None) -> np.ndarray:
        """(N, 3) yaw, pitch, roll in hpbench's convention: the dataset's own (``pose/ypr``), or the
        label source ``labels`` (NaN rows: samples it gives no label)."""
        if labels is None:
            return self.ypr
        if labels not in self.layout.label_sources:
            have = ", ".join(self.layout.label_sources) or "none"
            raise FormatError(f"{self.path}: no label source {labels!r} (has: {have}; hpbench bboxes import "
                              "--format headposeplus adds one)")
        return self._array(label_key(labels))

    def box_status(self, source: str) -> np.ndarray | None:
        """Per-sample status of a detector box source ("detected", "fallback", "missing"), or None."""
        return self._array(box_status_keys(source)[0]) if source in self.layout.box_status else None

    def box_quality(self, source: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-sample (detector score, IoU with the reference box) of a detector box source, or None. A
        fallback's values are those of the detection it rejected (NaN where the detector found nothing)."""
        if source not in self.layout.box_status:
            return None
        _, score, overlap = box_status_keys(source)
        return self._array(score), self._array(overlap)

    def box_rejected(self, source: str) -> np.ndarray | None:
        """(N, 4) the detection each fallback of a detector box source turned down (NaN rows for the
        others and where nothing was detected), or None for a file relabelled before hpbench kept them."""
        return self._array(rejected_box_key(source)) if source in self.layout.box_rejected else None

    def meta(self, name: str) -> np.ndarray:
        if name not in self.layout.meta:
            raise FormatError(f"{self.path}: no meta column {name!r} (has: {', '.join(sorted(self.layout.meta))})")
        return self._array(f"meta/{name}")

    def _encoded(self, name: str, index: int) -> np.ndarray:
        """One row of a variable-length byte key (uint8); the key is looked up once per process (a
        lookup costs as much as a small read)."""
        handle = self._h5()
        if name not in self._rows:
            self._rows[name] = _Rows(handle[name])
        return self._rows[name].read(index)

    def encoded_image(self, index: int) -> bytes:
        return self._encoded("image/encoded", index).tobytes()

    def image(self, index: int) -> np.ndarray:
        """The image decoded as BGR uint8 (grey images are expanded to three channels)."""
        return self._decode(self._encoded("image/encoded", index), index, "image", cv2.IMREAD_COLOR)

    def depth(self, index: int) -> np.ndarray:
        """The depth map (uint16 millimetres, 0 = no measurement)."""
        if not self.layout.depth:
            raise FormatError(f"{self.path}: holds no depth maps (convert with --with-depth)")
        return self._decode(self._encoded("depth/encoded", index), index, "depth map", cv2.IMREAD_UNCHANGED)

    def _decode(self, data: np.ndarray, index: int, what: str, flags: int) -> np.ndarray:
        head = memoryview(data)  # the header's size, before decoding (a decode bomb is refused unread); no copy
        png = head[:len(IMAGE_FORMATS["png"])] == IMAGE_FORMATS["png"]
        declared = declared_size(head, "png" if png else "jpeg")
        if declared is not None and size_problem(*declared):
            raise FormatError(f"{self.path}: {what} {index} ({self.keys[index]}) {size_problem(*declared)}")
        decoded = cv2.imdecode(data, flags)
        if decoded is None:
            raise FormatError(f"{self.path}: {what} {index} ({self.keys[index]}) cannot be decoded")
        return decoded


class _Rows:
    """Single rows of a 1-D variable-length dataset through HDF5's low-level read: a third cheaper
    per row than indexing the h5py Dataset (benchmarks/loader_speed.py)."""

    def __init__(self, dataset: h5py.Dataset):
        self.dataset, self.count = dataset, dataset.shape[0]
        self.file_space, self.memory_space = dataset.id.get_space(), h5py.h5s.create_simple((1,))

    def read(self, index: int) -> np.ndarray:
        index = int(index)
        if not -self.count <= index < self.count:
            raise IndexError(f"row {index} of {self.count}")
        self.file_space.select_hyperslab((index % self.count,), (1,))
        out = np.empty((1,), dtype=self.dataset.dtype)
        self.dataset.id.read(self.memory_space, self.file_space, out)
        return out[0]


def find_prepared(data_dir: str | Path, dataset: str) -> Path:
    """The path of ``dataset``'s prepared file in ``data_dir``, or an error that says how to make it."""
    path = prepared_path(data_dir, dataset)
    if not path.is_file():
        raise HpbenchError(
            f"{path} is missing: run `hpbench prepare {dataset} --src <raw {dataset} folder> --out {data_dir}` first"
        )
    return path


def open_prepared(data_dir: str | Path, dataset: str) -> "HPFile":
    return HPFile(find_prepared(data_dir, dataset))
