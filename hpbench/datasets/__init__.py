"""Converters from raw dataset folders to the hpbench HDF5 layout, one module per dataset.

A converter lists a raw folder's samples (``find_sources``, in the main process, where annotation
files are parsed once) and reads them (``read``, possibly in a worker process; one item may give
several samples, e.g. the faces of one image). Both raise hpbench errors that name the file and what
is wrong. Samples a dataset's own rules leave out (a face without a pose, an image listed but absent)
are not errors: ``Sources.excluded`` lists them and the report counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hpbench.format import HPFile, Layout, Sample
from hpbench.pose import inside_range
from hpbench.registry import Registry


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One unit of reading: its key, the files it reads (image first), parsed annotations and the
    number of samples it gives. Paths are plain strings: a dataset lists hundreds of thousands of
    items, so each stays small."""

    key: str
    files: tuple[str, ...]
    info: Any = None
    count: int = 1

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(Path(f) for f in self.files)


@dataclass
class Sources:
    """What ``find_sources`` found: the layout of the output, the items, and what the rules exclude."""

    layout: Layout
    items: list[SourceItem]
    excluded: list[dict[str, str]] = field(default_factory=list)  # {"what": …, "why": …}
    notes: dict[str, int] = field(default_factory=dict)  # counts worth printing

    @property
    def sample_count(self) -> int:
        return sum(item.count for item in self.items)


@dataclass(frozen=True)
class PublishedCount:
    """A count the dataset's authors (or a reference paper) published, and how to count it in a file."""

    what: str
    value: int
    count: Callable[[HPFile], int]
    note: str = ""


def count_samples(data: HPFile) -> int:
    return len(data)


def count_inside_99(data: HPFile) -> int:
    return int(np.sum(inside_range(data.ypr)))


def count_distinct(meta: str) -> Callable[[HPFile], int]:
    def count(data: HPFile) -> int:
        return len(set(data.meta(meta)))

    return count


@dataclass(frozen=True)
class Converter:
    name: str
    find_sources: Callable[..., Sources]  # (src: Path, **options) -> Sources
    read: Callable[[SourceItem], "Sample | list[Sample]"]
    published: tuple[PublishedCount, ...] = ()
    options: tuple[str, ...] = ()  # keyword options find_sources accepts (e.g. "with_depth")
    citation: str = ""


CONVERTERS: Registry[Converter] = Registry("dataset")


def get_converter(name: str) -> Converter:
    return CONVERTERS.get(name)


def register(converter: Converter) -> Converter:
    return CONVERTERS.register(converter.name)(converter)


from hpbench.datasets import aflw, aflw2000, biwi, lsp, mpii, w300lp, xgaze  # noqa: E402,F401  (register the converters)
