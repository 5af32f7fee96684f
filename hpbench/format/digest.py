"""Content digests: a sha256 per key over its rows, and one over the layout, the count and the keys'.

A digest depends on the content only (not on batching, chunking, workers or the time of writing),
so the same raw input gives the same digest on every machine.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import h5py
import numpy as np

from hpbench.format.layout import Field, Layout

READ_BLOCK = 4096  # rows of a fixed-size key read at a time when it is hashed or checked
BLOCK_BYTES = 8 * 2**20  # bytes of encoded images read at a time


def column(spec: Field, values: list) -> np.ndarray:
    """A batch of rows as the array written to (and hashed for) one key."""
    if spec.variable_length:
        array = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):  # element-wise: numpy would broadcast equal-length rows
            array[i] = value if spec.dtype == "str" else np.asarray(value, dtype=np.uint8)
        return array
    array = np.asarray(values, dtype=spec.dtype)
    if array.shape[1:] != spec.row_shape:
        raise ValueError(f"{spec.name}: rows of shape {array.shape[1:]}, expected {spec.row_shape}")
    return array


class FieldHasher:
    """sha256 over a key's rows in order; length-prefixed for variable-length rows."""

    def __init__(self, spec: Field):
        self.spec = spec
        self._hash = hashlib.sha256()

    def update(self, rows: np.ndarray) -> None:
        if not self.spec.variable_length:
            self._hash.update(np.ascontiguousarray(rows, dtype=self.spec.dtype).tobytes())
            return
        for value in rows:
            raw = value.encode("utf-8") if self.spec.dtype == "str" else np.asarray(value, np.uint8).tobytes()
            self._hash.update(len(raw).to_bytes(8, "little"))
            self._hash.update(raw)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def field_digest(spec: Field, rows: np.ndarray) -> str:
    hasher = FieldHasher(spec)
    hasher.update(rows)
    return hasher.hexdigest()


def combine_digest(layout: Layout, count: int, field_digests: dict[str, str]) -> str:
    """The file's content digest from its layout, count and per-key digests."""
    total = hashlib.sha256()
    total.update(layout.to_json().encode())
    total.update(str(count).encode())
    for name in sorted(field_digests):
        total.update(f"\0{name}\0{field_digests[name]}".encode())
    return total.hexdigest()


def iter_blocks(dataset: h5py.Dataset, count: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) of a stored key, in blocks bounded by bytes (strings decoded).

    Fixed-size keys are read READ_BLOCK rows at a time; encoded images in blocks of about
    BLOCK_BYTES, sized from the rows read so far, so memory does not grow with the image size.
    """
    as_text = h5py.check_string_dtype(dataset.dtype) is not None
    variable = as_text or h5py.check_vlen_dtype(dataset.dtype) is not None
    start, rows, read_bytes = 0, (16 if variable and not as_text else READ_BLOCK), 0
    while start < count:
        stop = min(count, start + rows)
        block = dataset.asstr()[start:stop] if as_text else dataset[start:stop]
        yield start, block
        if variable and not as_text:
            read_bytes += sum(len(row) for row in block)
            rows = int(np.clip(BLOCK_BYTES * stop / max(read_bytes, 1), 1, READ_BLOCK))
        start = stop
