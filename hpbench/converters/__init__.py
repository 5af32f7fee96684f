"""Converters from raw dataset folders to the hpbench HDF5 layout, one module per dataset.

A converter module registers one ``Converter`` that declares everything about its dataset: how to
list a raw folder's samples (``find_sources``, in the main process, where annotation files are parsed
once) and read them (``read``, possibly in a worker process; one item may give several samples, e.g.
the faces of one image), the published counts ``hpbench verify`` compares with, the dataset's own
face box and face anchor that relabelling matches detections against, how its keys name faces, and
the synthetic writer of its raw format. Nothing outside the module names the dataset: dropping a new
module into this package is all it takes (the registry imports every module of the package).

Both functions raise hpbench errors that name the file and what is wrong. Samples a dataset's own
rules leave out (a face without a pose, an image listed but absent) are not errors: ``Sources.excluded``
lists them and the report counts them. An item ``find_sources`` already knows to be bad carries the
``BadSourceFile`` as its ``info``: prepare reports it (an error, or a ``--skip-bad`` entry) without
calling ``read``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hpbench.converters.counts import PublishedCount
from hpbench.format import Layout, Sample
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
    notes: dict[str, int | str] = field(default_factory=dict)  # counts worth printing, and e.g. the layout found

    @property
    def sample_count(self) -> int:
        return sum(item.count for item in self.items)


@dataclass(frozen=True)
class Option:
    """A keyword option of one converter's ``find_sources``, offered as ``hpbench prepare DATASET --name``."""

    name: str
    help: str
    flag: bool = False  # an on/off switch rather than a value


@dataclass(frozen=True)
class SyntheticSample:
    """The ``hpbench.synth`` writer of the dataset's raw format, and the small sample (``n`` images at
    ``size`` pixels, ``seed``) that carries every quirk the converter must survive."""

    writer: str
    n: int
    seed: int = 0
    size: int | None = None

    def write(self, out: str | Path):
        """Write the sample under ``out``; returns the writer's truth records."""
        from hpbench.synth.writers import write_sample

        return write_sample(self.writer, out, self.n, seed=self.seed, **({"size": self.size} if self.size else {}))


@dataclass(frozen=True)
class Converter:
    name: str
    find_sources: Callable[..., Sources]  # (src: Path, **options) -> Sources
    read: Callable[[SourceItem], "Sample | list[Sample]"]
    published: tuple[PublishedCount, ...] = ()
    options: tuple[Option, ...] = ()  # keyword options find_sources accepts (e.g. BIWI's with_depth)
    citation: str = ""
    reference_box: str | None = None  # the dataset's own face box: what detections are matched to, the fallback
    face_anchor: tuple[str, str] | None = None  # meta columns (x, y) of a point a face box must hold (BIWI)
    faces_in_key: bool = False  # keys read "<image path>#<face id>" (AFLW), as KD's box files' "faceid"
    synthetic: SyntheticSample | None = None


CONVERTERS: Registry[Converter] = Registry("dataset", package=__name__)


def get_converter(name: str) -> Converter:
    return CONVERTERS.get(name)


def register(converter: Converter) -> Converter:
    return CONVERTERS.register(converter.name)(converter)
