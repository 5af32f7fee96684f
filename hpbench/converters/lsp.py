"""Leeds Sports Pose (Johnson & Everingham 2010) and its extension LSPET (2011).

Expected folders (``--src``)::

    lsp/     joints.mat   ('joints' 3×14×2000: x, y, flag with 1 = OCCLUDED)      images/im0001.jpg …
    lspet/   joints.mat   ('joints' 14×3×10000: x, y, flag with 1 = visible)     images/im00001.jpg …

The two files flag visibility in opposite senses; hpbench stores one meaning: ``joints/visible`` is
true for a visible joint. LSP gives no person box or centre, so ``person/center`` and
``person/scale`` come from the joints (hpbench.converters.bodies.person_from_joints). The usual LSP
split is kept in ``meta/native_split``: images 1–1000 train, 1001–2000 test; LSPET is all training.
LSP annotates hidden joints, so their positions are kept. LSPET does not: each of the release's
16,787 flag-0 joints has one coordinate 0 and the other negative. hpbench stores them as NaN (not
annotated), so that no target map and no PCK uses them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpbench.converters import Converter, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.bodies import body_layout, person_from_joints
from hpbench.converters.counts import PublishedCount, count_samples
from hpbench.converters.images import read_image_file
from hpbench.converters.matlab import load_mat_isolated
from hpbench.errors import BadSourceFile, HpbenchError, NotTheDataset
from hpbench.format import Sample
from hpbench.skeletons import LSP14

META = {"native_split": "str", "image_index": "int"}
LSP_TRAIN_IMAGES = 1000


def _joint_table(src: Path, dataset: str) -> np.ndarray:
    """(N, 14, 3) x, y, raw flag from ``joints.mat`` in either release's layout."""
    path = src / "joints.mat"
    if not path.is_file():
        hint = f" Did you mean --src {src / dataset}?" if (src / dataset / "joints.mat").is_file() else ""
        raise NotTheDataset(f"{src} does not look like {dataset.upper()}: no joints.mat in it.{hint}")
    try:
        joints = np.asarray(load_mat_isolated(path, ["joints"])["joints"], dtype=np.float64)
    except BadSourceFile as err:
        raise HpbenchError(str(err)) from None
    except (ValueError, TypeError):
        raise HpbenchError(f"{path}: 'joints' is not a numeric array") from None
    expected, other = ((3, 14), "lspet") if dataset == "lsp" else ((14, 3), "lsp")
    if joints.ndim != 3 or joints.shape[:2] != expected:
        other_shape = (14, 3) if dataset == "lsp" else (3, 14)
        hint = f"; that is {other.upper()}'s layout: use hpbench prepare {other}" if joints.shape[:2] == other_shape else ""
        raise HpbenchError(f"{path}: 'joints' has shape {joints.shape}, expected {expected + ('N',)}{hint}")
    return joints.transpose(2, 1, 0) if dataset == "lsp" else joints.transpose(2, 0, 1)


def _find(src: Path, dataset: str, digits: int) -> Sources:
    table = _joint_table(src, dataset)
    items, excluded = [], []
    for index, row in enumerate(table, start=1):
        name = f"im{index:0{digits}d}.jpg"
        image = src / "images" / name
        flag = row[:, 2] != 0
        visible = ~flag if dataset == "lsp" else flag
        split = "train" if dataset == "lspet" or index <= LSP_TRAIN_IMAGES else "test"
        if not image.is_file():
            excluded.append({"what": name, "why": "image listed in joints.mat but absent on disk"})
            continue
        unusable = np.isinf(row).any(axis=1) | np.isnan(row[:, 2]) | (visible & np.isnan(row[:, :2]).any(axis=1))
        joints = row[:, :2].copy()
        if dataset == "lspet":
            joints[~visible] = np.nan  # not annotated (the release's 0 / negative placeholders)
        info = (index, joints, visible, split)
        if unusable.any():  # prepare reports it: an error, or with --skip-bad one image
            joint = LSP14[int(np.argmax(unusable))]
            info = BadSourceFile(src / "joints.mat",
                                 f"{name}: joint {joint} is visible without coordinates, or has an infinite value")
        items.append(SourceItem(key=f"{name}#1", files=(str(image),), info=info))
    layout = body_layout(dataset, LSP14, (), META)
    notes = {"annotations in joints.mat": len(table)}
    if dataset == "lspet":
        notes["hidden joints, not annotated (stored as NaN)"] = int(np.count_nonzero(table[:, :, 2] == 0))
    return Sources(layout, items, excluded=excluded, notes=notes)


def find_lsp(src: Path) -> Sources:
    return _find(src, "lsp", 4)


def find_lspet(src: Path) -> Sources:
    return _find(src, "lspet", 5)


def read(item: SourceItem) -> Sample:
    index, joints, visible, split = item.info
    data, fmt, height, width = read_image_file(item.paths[0])
    centre, scale = person_from_joints(joints, visible)
    return Sample(key=item.key, image=data, image_format=fmt, height=height, width=width, joints=joints,
                  joints_visible=visible, person_center=centre, person_scale=scale,
                  meta={"native_split": split, "image_index": index})


register(Converter(
    name="lsp", find_sources=find_lsp, read=read,
    published=(PublishedCount("samples", 2_000, count_samples),),
    synthetic=SyntheticSample("lsp", n=30, seed=8, size=160),
    citation="Johnson & Everingham, Clustered Pose and Nonlinear Appearance Models for Human Pose Estimation, "
             "BMVC 2010",
))
register(Converter(
    name="lspet", find_sources=find_lspet, read=read,
    published=(PublishedCount("samples", 10_000, count_samples),),
    synthetic=SyntheticSample("lspet", n=30, seed=9, size=160),
    citation="Johnson & Everingham, Learning Effective Human Pose Estimation from Inaccurate Annotation, CVPR 2011",
))
