"""Synthetic 300W-LP in the 3DDFA release layout.

    OUT/
      AFW/        AFW_134212_1_0.jpg  AFW_134212_1_0.mat  …   (NAME_<view>; views of one face)
      AFW_Flip/   the same names, mirrored images and labels
      HELEN/ HELEN_Flip/ IBUG/ IBUG_Flip/ LFPW/ LFPW_Flip/
      landmarks/AFW/AFW_134212_1_0_pts.mat  …                   (pts_2d, pts_3d; unflipped folders)

Each ``.mat`` holds ``Pose_Para`` (1, 7) float32 [pitch, yaw, roll (radians), tx, ty, tz, scale],
``pt2d`` (2, 68) float64 (x row, y row) and ``roi`` (1, 4) int16. All views of a face share the
identity's head, background and placement, as 300W-LP's profile synthesis does; a small share of
views lies beyond ±99° so that the protocols' filter matters.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from hpbench.pose import flip_horizontal
from hpbench.synth.background import random_background
from hpbench.synth.head import HeadModel
from hpbench.synth.raycast import Placement
from hpbench.synth.scene import HeadLabels, default_supersample, random_instance, render_scene
from hpbench.synth.writers import TruthRecord, register_writer, render_records, sample_rng
from hpbench.synth.writers.ddfa import pose_para, pt2d_box, roi, write_jpeg, write_mat, ypr_from_pose_para

FOLDERS = ("AFW", "HELEN", "IBUG", "LFPW")
VIEWS_PER_FACE = 5
OUT_OF_RANGE_SHARE = 0.04


def identity_name(index: int) -> tuple[str, str]:
    """(folder, face identity) of the index-th synthetic face, named like the real files."""
    folder = FOLDERS[index % len(FOLDERS)]
    if folder == "AFW":
        return folder, f"AFW_{134212 + 7919 * index}_{1 + index % 3}"
    if folder == "HELEN":
        return folder, f"HELEN_{1269874180 + 104729 * index}_1"
    if folder == "IBUG":
        return folder, f"IBUG_image_{index:03d}_1"
    return folder, f"LFPW_image_{'train' if index % 8 < 4 else 'test'}_{index:04d}"


def view_poses(rng: np.random.Generator, views: int) -> np.ndarray:
    """(views, 3) yaw, pitch, roll: a base pose, then yaw turned in steps away from frontal."""
    yaw0, pitch0, roll0 = rng.uniform(-35, 35), rng.normal(0, 15), rng.normal(0, 10)
    direction = np.sign(yaw0) or 1.0
    step = rng.uniform(10, 20)
    poses = np.array(
        [[yaw0 + direction * j * step, pitch0 + rng.normal(0, 3), roll0 + rng.normal(0, 3)] for j in range(views)]
    )
    for pose in poses:
        if rng.uniform() < OUT_OF_RANGE_SHARE:
            angle = 0 if rng.uniform() < 0.6 else 1
            pose[angle] = rng.choice([-1, 1]) * rng.uniform(100, 112)
    return poses


def _mirror(labels: HeadLabels, width: int) -> HeadLabels:
    p = labels.placement
    box = labels.head_box
    return dataclasses.replace(
        labels,
        ypr=flip_horizontal(labels.ypr),
        placement=Placement(p.scale, width - 1 - p.cx, p.cy),
        landmarks68=np.stack([width - 1 - labels.landmarks68[:, 0], labels.landmarks68[:, 1]], axis=1),
        head_box=np.array([width - 1 - box[2], box[1], width - 1 - box[0], box[3]]),
    )


def _write_view(out: Path, folder: str, name: str, image, labels: HeadLabels, identity: str, view: int,
                landmark_file: bool) -> TruthRecord:
    size = image.shape[0]
    (out / folder).mkdir(exist_ok=True)
    write_jpeg(out / folder / f"{name}.jpg", image)
    para = pose_para(labels, size)
    pt2d = labels.landmarks68.T.astype(np.float64)
    write_mat(out / folder / f"{name}.mat", {"Pose_Para": para, "pt2d": pt2d, "roi": roi(labels.head_box)})
    if landmark_file:
        (out / "landmarks" / folder).mkdir(parents=True, exist_ok=True)
        write_mat(out / "landmarks" / folder / f"{name}_pts.mat", {"pts_2d": pt2d.T, "pts_3d": pt2d.T})
    return TruthRecord(
        key=f"{folder}/{name}.jpg",
        ypr=ypr_from_pose_para(para),
        landmarks=pt2d.T,
        head_box=labels.head_box,
        boxes={"pt2d": pt2d_box(pt2d)},
        meta={"identity": identity, "source_folder": folder, "view_index": view},
    )


def _render_face(task: tuple[Path, int, int, int, int]) -> list[TruthRecord]:
    out, seed, index, n_images, size = task
    rng = sample_rng(seed, index)
    folder, identity = identity_name(index)
    head = HeadModel.random(rng)
    factor = default_supersample(size, size)
    background = random_background(rng, size * factor, size * factor)
    first = random_instance(rng, (0, 0, 0), size, size, head=head)
    records = []
    for view, ypr in enumerate(view_poses(rng, math.ceil(n_images / 2))):
        instance = dataclasses.replace(first, ypr=ypr)
        image, (labels,) = render_scene([instance], size, size, rng, background=background)
        name = f"{identity}_{view}"
        records.append(_write_view(out, folder, name, image, labels, identity, view, True))
        if len(records) < n_images:
            mirrored = _mirror(labels, size)
            records.append(
                _write_view(out, f"{folder}_Flip", name, np.ascontiguousarray(image[:, ::-1]), mirrored, identity,
                            view, False)
            )
    return records


@register_writer("300w_lp")
def write_300w_lp(out: Path, n: int, seed: int = 0, size: int = 450, workers: int = 1, progress=None):
    """``n`` images (views and their flips) of ceil(n / 10) synthetic faces; see the module docstring."""
    per_face = 2 * VIEWS_PER_FACE
    tasks = [(out, seed, i, min(per_face, n - i * per_face), size) for i in range(math.ceil(n / per_face))]
    return render_records(_render_face, tasks, workers, progress, chunk_size=1)
