"""Synthetic DAD-3DHeads in its release layout: heads in every pose, backs of heads included.

    OUT/
      train/ train.json  images/<ID>.png  annotations/<ID>.json
      val/   val.json    images/<ID>.png  annotations/<ID>.json
      test/  test.json   images/<ID>.png

Quirks reproduced: item ids that are UUID-like hex strings; ``bbox`` as [x, y, w, h]; ``attributes``
on train and test items only, booleans as JSON booleans and "standard light" with a space; the
annotation's ``model_view_matrix`` an OpenGL model-view matrix (the head's rotation times a uniform
scale, then a translation away from the camera) with its ``projection_matrix`` and 5023 mesh
vertices; no annotations for the test split; one val item whose annotation file is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from hpbench.converters.dad3dheads import attribute_columns
from hpbench.pose import rotation_from_ypr, wide_ypr_from_rotation, ypr_from_rotation
from hpbench.synth.scene import render_face_image
from hpbench.synth.writers import TruthRecord, register_writer, render_records, sample_rng

VERTICES = 5023
GL_PROJECTION = [[2.4, 0.0, 0.0, 0.0], [0.0, 2.4, 0.0, 0.0], [0.0, 0.0, -1.002, -0.2002], [0.0, 0.0, -1.0, 0.0]]


def _split(index: int, n: int) -> str:
    share = index / n
    return "train" if share < 0.6 else "val" if share < 0.85 else "test"


def _attributes(rng, yaw: float) -> dict:
    pose = "front" if abs(yaw) < 30 else "sided" if abs(yaw) < 90 else "atypical"
    return {"quality": str(rng.choice(["hq", "lq"])), "gender": str(rng.choice(["female", "male", "undefined"])),
            "expression": bool(rng.random() < 0.3), "age": str(rng.choice(["child", "young", "middle_aged", "senior"])),
            "occlusions": bool(rng.random() < 0.2), "pose": pose, "standard light": bool(rng.random() < 0.7)}


def _render(task) -> list[TruthRecord]:
    out, seed, index, n, size = task
    rng = sample_rng(seed, index)
    split = _split(index, n)
    item_id = f"{rng.integers(1 << 62):016x}"
    ypr = np.array([rng.uniform(-180, 180), rng.uniform(-40, 40), rng.uniform(-30, 30)])
    image, labels = render_face_image(rng, ypr, size)
    cv2.imwrite(str(out / split / "images" / f"{item_id}.png"), image)
    x1, y1, x2, y2 = (int(round(v)) for v in labels.head_box)
    entry = {"item_id": item_id, "annotation_path": f"{split}/annotations/{item_id}.json",
             "img_path": f"{split}/images/{item_id}.png", "bbox": [x1, y1, x2 - x1, y2 - y1]}
    if split != "val":
        entry["attributes"] = _attributes(rng, ypr[0])
    rotation = rotation_from_ypr(ypr)
    stored = wide_ypr_from_rotation(rotation)
    stored = stored if np.all(np.isfinite(stored)) else ypr_from_rotation(rotation)
    record = TruthRecord(key=f"{split}/{item_id}", ypr=stored, boxes={"dataset": [x1, y1, x2, y2]},
                         meta=attribute_columns(split, entry.get("attributes")))
    missing = split == "val" and index == -(-6 * n // 10)  # the first val item lost its annotation
    if split == "test" or missing:
        record = TruthRecord(key=record.key, excluded="test annotations are withheld" if split == "test"
                             else "annotation file missing")
    if split != "test" and not missing:
        model_view = np.eye(4)
        model_view[:3, :3] = rng.uniform(0.8, 1.6) * rotation.T  # FLAME → OpenGL camera, a uniform scale
        model_view[:3, 3] = [rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), -rng.uniform(0.8, 1.2)]
        mesh = rng.normal(size=(VERTICES, 3))
        mesh = 0.09 * mesh / np.linalg.norm(mesh, axis=1, keepdims=True)
        (out / split / "annotations" / f"{item_id}.json").write_text(json.dumps(
            {"vertices": mesh.round(6).tolist(), "model_view_matrix": model_view.tolist(),
             "projection_matrix": GL_PROJECTION}))
    return [(record, split, entry)]


@register_writer("dad3dheads")
def write_dad3dheads(out: Path, n: int, seed: int = 0, size: int | None = None, workers: int = 1, progress=None):
    """``n`` square images of ``size`` pixels (default 256): 60 % train, 25 % val, 15 % test."""
    for split in ("train", "val", "test"):
        (out / split / "images").mkdir(parents=True)
        if split != "test":
            (out / split / "annotations").mkdir()
    rendered = render_records(_render, [(out, seed, i, n, size or 256) for i in range(n)], workers, progress)
    listings: dict[str, list] = {"train": [], "val": [], "test": []}
    for _, split, entry in rendered:
        listings[split].append(entry)
    for split, entries in listings.items():
        (out / split / f"{split}.json").write_text(json.dumps(entries))
    return [record for record, _, _ in rendered]
