"""AFLW2000-3D (Zhu et al. 2016): the first 2,000 AFLW images with fitted 3DDFA poses.

Expected folder (``--src``)::

    AFLW2000/
      image00002.jpg  image00002.mat  image00004.jpg  image00004.mat  …  image04375.mat

Each ``.mat`` holds ``Pose_Para`` (1, 7) and ``pt2d`` (2, 21): AFLW's 21 points, where a point the
annotators did not mark is stored as x = −1 (y = height + 2 after 3DDFA's flip of the y axis). Such
points become NaN and stay out of the ``landmarks`` box; the ``pt2d`` box keeps them, as HopeNet's
crop does. 31 of the 2,000 poses lie beyond ±99°.
"""

from __future__ import annotations

from pathlib import Path

from hpbench.converters import Converter, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.ddfa import DDFA_BOXES, DDFA_CITATION, ddfa_counts, paired_sources, read_ddfa_sample
from hpbench.errors import NotTheDataset
from hpbench.format import Layout, Sample
from hpbench.landmarks import AFLW21

LAYOUT = Layout(dataset="aflw2000", landmark_names=AFLW21, box_sources=DDFA_BOXES)


def find_sources(src: Path) -> Sources:
    items = paired_sources(src, src, pattern="image[0-9]*")
    if not items:
        nested = [p for p in (src / "AFLW2000", src / "AFLW2000-3D") if p.is_dir()]
        hint = f" Did you mean --src {nested[0]}?" if nested else ""
        raise NotTheDataset(f"{src} does not look like AFLW2000: no imageNNNNN.jpg / .mat files in it.{hint}")
    return Sources(LAYOUT, items)


def read(item: SourceItem) -> Sample:
    return read_ddfa_sample(item, points=21, missing_marker=True)


register(Converter(
    name="aflw2000", find_sources=find_sources, read=read, reference_box="landmarks",
    published=ddfa_counts(2_000, 1_969), citation=DDFA_CITATION,
    synthetic=SyntheticSample("aflw2000", n=120, seed=5, size=200),
))
