"""Synthetic AFLW2000-3D in its release layout.

    OUT/
      image00002.jpg  image00002.mat  image00004.jpg  …   (names between image00002 and image04375,
                                                           not contiguous)

Each ``.mat`` holds ``Pose_Para`` (1, 7) float32, ``pt2d`` (2, 21) float64 with AFLW's 21 points and
``pt3d_68`` (3, 68) float32 (x, y in pixels, z depth), plus ``roi`` (1, 4) int16. As in the real files,
a point AFLW did not annotate (here: hidden by the head itself or outside the image) is written as
x = −1, y = height + 2 (e.g. (−1, 452) in a 450-pixel image). About 2 % of the poses lie beyond ±99°;
a pose that would leave fewer than three points visible is drawn again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpbench.synth.scene import render_face_image
from hpbench.synth.writers import TruthRecord, register_writer, render_records, sample_rng
from hpbench.synth.writers.ddfa import pose_para, pt2d_box, roi, write_jpeg, write_mat, ypr_from_pose_para

OUT_OF_RANGE_SHARE = 0.02
MIN_VISIBLE_POINTS = 3


def random_pose(rng: np.random.Generator) -> np.ndarray:
    ypr = np.array([rng.uniform(-92, 92), np.clip(rng.normal(0, 18), -80, 80), rng.normal(0, 12)])
    if rng.uniform() < OUT_OF_RANGE_SHARE:
        ypr[0 if rng.uniform() < 0.6 else 1] = rng.choice([-1, 1]) * rng.uniform(100, 115)
    return ypr


def image_numbers(n: int, seed: int) -> np.ndarray:
    """n sorted distinct numbers for the names imageNNNNN, spread like the real 2 … 4375."""
    top = max(4375, 2 * n + 2)
    return np.sort(np.random.default_rng([seed, 2000]).choice(np.arange(2, top + 1), size=n, replace=False))


def _render(task: tuple[Path, int, int, int, int]) -> TruthRecord:
    out, seed, index, number, size = task
    rng = sample_rng(seed, index)
    image, labels = render_face_image(rng, random_pose(rng), size)
    while labels.visible21.sum() < MIN_VISIBLE_POINTS:  # AFLW annotated every face it kept
        image, labels = render_face_image(rng, random_pose(rng), size)
    name = f"image{number:05d}"
    write_jpeg(out / f"{name}.jpg", image)
    pt2d = labels.landmarks21.T.astype(np.float64)
    pt2d[:, ~labels.visible21] = np.array([[-1.0], [size + 2.0]])
    uv, depth = labels.landmarks68, labels.depth68
    pt3d = np.stack([uv[:, 0], uv[:, 1], depth]).astype(np.float32)
    para = pose_para(labels, size)
    write_mat(out / f"{name}.mat", {"Pose_Para": para, "pt2d": pt2d, "pt3d_68": pt3d, "roi": roi(labels.head_box)})
    landmarks = labels.landmarks21.copy()
    landmarks[~labels.visible21] = np.nan
    return TruthRecord(key=f"{name}.jpg", ypr=ypr_from_pose_para(para), landmarks=landmarks, head_box=labels.head_box,
                       boxes={"pt2d": pt2d_box(pt2d)})


@register_writer("aflw2000")
def write_aflw2000(out: Path, n: int, seed: int = 0, size: int = 450, workers: int = 1, progress=None):
    """``n`` single-face images with AFLW2000's names and annotation files; see the module docstring."""
    tasks = [(out, seed, i, int(number), size) for i, number in enumerate(image_numbers(n, seed))]
    return render_records(_render, tasks, workers, progress)
