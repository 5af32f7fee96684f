"""DAD-3DHeads (Martyniuk et al., CVPR 2022): in-the-wild heads in every pose, with a FLAME mesh fitted
to each, from the release as its authors ship it.

Expected folder (``--src``)::

    DAD-3DHeadsDataset/
      train/  train.json   images/<ID>.png   annotations/<ID>.json
      val/    val.json     images/<ID>.png   annotations/<ID>.json
      test/   test.json    images/<ID>.png                          (annotations withheld: left out)

``<split>.json`` lists ``item_id``, ``bbox`` ([x, y, w, h]) and, for train and test, ``attributes``
(quality, gender, expression, age, occlusions, pose, standard light); ``annotations/<ID>.json`` holds
``vertices`` (5023 × 3), ``model_view_matrix`` and ``projection_matrix`` (OpenGL, 4 × 4). The files
are read as the benchmark's ``generate_gt.py`` reads them (PinataFarms/DAD-3DHeads).

The rotation is the benchmark's own: ``get_gt_rot_mat`` (dad_3dheads_benchmark/benchmark.py) takes
R_gt = G · MV[:3, :3], G = diag(1, −1, −1): the FLAME head (x to its left, y up, z out of the face) in
OpenCV camera axes. hpbench's R is then (G · R_gt)ᵀ = MV[:3, :3]ᵀ (docs/CONVENTIONS.md), made the
nearest rotation when the matrix carries a uniform scale; its angles are the full-range triple where
one exists (|pitch|, |roll| < 90°), else the canonical one: no head is left out for its pose. The box
(``bbox/dataset``) is the release's (x, y, x + w, y + h); the attributes are meta columns, empty
where a split has none (val), so protocols can select subsets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpbench.converters import Converter, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.counts import PublishedCount, count_distinct
from hpbench.converters.images import read_image_file
from hpbench.errors import BadSourceFile, HpbenchError, NotTheDataset
from hpbench.format import Layout, Sample
from hpbench.jsonfiles import parse_json
from hpbench.pose import wide_ypr_from_rotation, ypr_from_rotation

SPLITS = ("train", "val", "test")
ATTRIBUTES = {"quality": "quality", "gender": "gender", "expression": "expression", "age": "age",
              "occlusions": "occlusions", "pose": "pose", "standard light": "standard_light"}
SCALE_TOLERANCE = 1e-3  # the model-view matrix's singular values may differ by this share (a uniform scale)


def _read_json(path: Path, what: str):
    try:
        return parse_json(path.read_bytes(), f"{path} ({what})")
    except OSError as err:
        raise BadSourceFile(path, f"cannot be read ({err.strerror or err})") from None
    except HpbenchError as err:
        raise BadSourceFile(path, f"is not {what}: {err}") from None


def attribute_columns(split: str, attributes) -> dict[str, str]:
    """The meta columns of one item: its split and its attributes as strings ("" where it has none)."""
    values = attributes if isinstance(attributes, dict) else {}
    meta = {"split": split}
    for name, column in ATTRIBUTES.items():
        value = values.get(name, "")
        meta[column] = str(value).lower() if isinstance(value, bool) else str(value)
    return meta


def _layout() -> Layout:
    return Layout(dataset="dad3dheads", box_sources=("dataset",),
                  meta={"split": "str", **{column: "str" for column in ATTRIBUTES.values()}})


def find_sources(src: Path) -> Sources:
    splits = [s for s in SPLITS if (src / s / f"{s}.json").is_file()]
    if not splits:
        hint = f" Did you mean --src {src / 'DAD-3DHeadsDataset'}?" if (src / "DAD-3DHeadsDataset").is_dir() else ""
        raise NotTheDataset(f"{src} does not look like DAD-3DHeadsDataset/: no train/train.json, val/val.json or "
                            f"test/test.json in it.{hint}")
    items, excluded = [], []
    for split in splits:
        listing = src / split / f"{split}.json"
        entries = _read_json(listing, "a DAD-3DHeads metadata list")
        if not isinstance(entries, list):
            raise BadSourceFile(listing, "is not a list of items (item_id, bbox, attributes)")
        for number, entry in enumerate(entries):
            try:
                item_id = str(entry["item_id"])
                box = np.array(entry["bbox"], dtype=np.float64).reshape(4)
            except (KeyError, TypeError, ValueError) as err:
                raise BadSourceFile(listing, f"entry {number} has no item_id and 4-number bbox ({err})") from None
            if "/" in item_id or "\\" in item_id or item_id in ("", ".", ".."):
                raise BadSourceFile(listing, f"entry {number}: item_id {item_id!r} is not a plain file name")
            key = f"{split}/{item_id}"
            annotation = src / split / "annotations" / f"{item_id}.json"
            if not annotation.is_file():
                why = "test annotations are withheld" if split == "test" else "annotation file missing"
                excluded.append({"what": key, "why": why})
                continue
            corners = np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]])
            info = (corners, attribute_columns(split, entry.get("attributes")))
            items.append(SourceItem(key, (str(src / split / "images" / f"{item_id}.png"), str(annotation)), info))
    return Sources(_layout(), items, excluded, {"splits": len(splits)})


def rotation_of(model_view, path: Path) -> np.ndarray:
    """hpbench's R of a ``model_view_matrix``: the nearest rotation to its upper-left 3 × 3, transposed."""
    try:
        block = np.array(model_view, dtype=np.float64).reshape(4, 4)[:3, :3]
    except (TypeError, ValueError):
        raise BadSourceFile(path, "model_view_matrix is not 4 × 4 numbers") from None
    u, singular, vh = np.linalg.svd(block)
    if not np.all(np.isfinite(block)) or singular[-1] <= 0 or singular[0] / singular[-1] - 1 > SCALE_TOLERANCE \
            or np.linalg.det(u @ vh) < 0:
        raise BadSourceFile(path, f"model_view_matrix is not a rotation times a uniform scale (singular values "
                                  f"{np.round(singular, 4).tolist()})")
    return (u @ vh).T


def read(item: SourceItem) -> Sample:
    image, annotation = item.paths
    box, meta = item.info
    content = _read_json(annotation, "a DAD-3DHeads annotation")
    if not isinstance(content, dict) or "model_view_matrix" not in content:
        raise BadSourceFile(annotation, "has no model_view_matrix")
    rotation = rotation_of(content["model_view_matrix"], annotation)
    ypr = wide_ypr_from_rotation(rotation)
    if not np.all(np.isfinite(ypr)):
        ypr = ypr_from_rotation(rotation)
    data, fmt, height, width = read_image_file(image)
    return Sample(key=item.key, image=data, image_format=fmt, height=height, width=width, ypr=ypr,
                  boxes={"dataset": box}, meta=meta)


register(Converter(
    name="dad3dheads", find_sources=find_sources, read=read, reference_box="dataset",
    published=(PublishedCount("annotated splits", 2, count_distinct("split"),
                              "train and val; the test split's annotations are withheld"),),
    synthetic=SyntheticSample("dad3dheads", n=24, seed=6, size=160),
    citation="Martyniuk et al., DAD-3DHeads: A Large-scale Dense, Accurate and Diverse Dataset for 3D Head "
             "Alignment from a Single Image, CVPR 2022",
))
