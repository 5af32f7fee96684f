"""300W-LP (3DDFA release, Zhu et al. 2016): 122,450 synthesised large-pose views of 300W faces.

Expected folder (``--src``)::

    300W_LP/
      AFW/        AFW_134212_1_0.jpg  AFW_134212_1_0.mat  …
      AFW_Flip/   (same names, mirrored)
      HELEN/  HELEN_Flip/  IBUG/  IBUG_Flip/  LFPW/  LFPW_Flip/
      landmarks/  (not read)

Each ``NAME.mat`` holds ``Pose_Para`` (1, 7) and ``pt2d`` (2, 68). A name ends in ``_<view>``; the
part before it is the face identity, shared by all views of a face and by its mirror in ``_Flip``,
so splits by ``meta/identity`` never put one face on both sides.
"""

from __future__ import annotations

import re
from pathlib import Path

from hpbench.converters import Converter, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.ddfa import DDFA_BOXES, DDFA_CITATION, ddfa_counts, paired_sources, read_ddfa_sample
from hpbench.errors import NotTheDataset
from hpbench.format import Layout, Sample
from hpbench.landmarks import IBUG68

FOLDERS = tuple(folder for base in ("AFW", "HELEN", "IBUG", "LFPW") for folder in (base, f"{base}_Flip"))
LAYOUT = Layout(
    dataset="300w_lp",
    landmark_names=IBUG68,
    box_sources=DDFA_BOXES,
    meta={"identity": "str", "source_folder": "str", "view_index": "int"},
)
_VIEW = re.compile(r"^(?P<identity>.+)_(?P<view>\d+)$")


def find_sources(src: Path) -> Sources:
    present = [folder for folder in FOLDERS if (src / folder).is_dir()]
    if not present:
        nested = [p for p in (src / "300W_LP", src / "300W-LP") if p.is_dir()]
        hint = f" Did you mean --src {nested[0]}?" if nested else ""
        raise NotTheDataset(f"{src} does not look like 300W-LP: none of the folders {', '.join(FOLDERS)} is in it.{hint}")
    absent = [folder for folder in FOLDERS if folder not in present]
    items = [item for folder in present for item in paired_sources(src / folder, src)]
    return Sources(LAYOUT, items, excluded=[{"what": f"{folder}/", "why": "folder absent"} for folder in absent])


def identity_and_view(stem: str) -> tuple[str, int]:
    """('AFW_134212_1', 0) for 'AFW_134212_1_0'; a name without a view number is its own identity (−1)."""
    match = _VIEW.match(stem)
    return (match["identity"], int(match["view"])) if match else (stem, -1)


def read(item: SourceItem) -> Sample:
    sample = read_ddfa_sample(item, points=68, missing_marker=False)
    image_path = item.paths[0]
    identity, view = identity_and_view(image_path.stem)
    sample.meta = {"identity": identity, "source_folder": image_path.parent.name, "view_index": view}
    return sample


register(Converter(
    name="300w_lp", find_sources=find_sources, read=read, reference_box="landmarks",
    published=ddfa_counts(122_450, 122_415), citation=DDFA_CITATION,
    synthetic=SyntheticSample("300w_lp", n=60, seed=3, size=160),
))
