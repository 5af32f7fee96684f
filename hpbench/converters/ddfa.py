"""The 3DDFA ``.mat`` annotation shared by 300W-LP and AFLW2000-3D.

``Pose_Para`` (1, 7) = [pitch, yaw, roll (radians), tx, ty, tz, scale]; ``pt2d`` (2, K) = x row, y row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpbench.converters import SourceItem
from hpbench.converters.counts import PublishedCount, count_inside_99, count_samples
from hpbench.converters.images import read_image_file
from hpbench.converters.matlab import load_mat
from hpbench.errors import BadSourceFile
from hpbench.format import Sample

DDFA_CITATION = "Zhu et al., Face Alignment Across Large Poses: A 3D Solution, CVPR 2016"


def ddfa_counts(samples: int, inside_99: int) -> tuple[PublishedCount, ...]:
    """The counts published for a 3DDFA release: samples, and samples inside the ±99° filter."""
    return (PublishedCount("samples", samples, count_samples),
            PublishedCount("samples inside ±99°", inside_99, count_inside_99))


def read_pose_para(content: dict, path: Path) -> np.ndarray:
    """Canonical (yaw, pitch, roll) degrees from ``Pose_Para``."""
    try:
        para = np.asarray(content["Pose_Para"], dtype=np.float64).reshape(-1)
    except (ValueError, TypeError):
        raise BadSourceFile(path, f"Pose_Para is not numeric (found {_describe(content['Pose_Para'])})") from None
    if para.size != 7:
        raise BadSourceFile(path, f"Pose_Para has {para.size} values, expected 7")
    if not np.all(np.isfinite(para[:3])):
        raise BadSourceFile(path, "Pose_Para holds a NaN or infinite angle")
    return np.degrees(np.array([para[1], para[0], para[2]]))


def read_pt2d(content: dict, path: Path, points: int) -> np.ndarray:
    """(K, 2) landmarks from ``pt2d`` (2, K), float64."""
    try:
        pt2d = np.asarray(content["pt2d"], dtype=np.float64)
    except (ValueError, TypeError):
        raise BadSourceFile(path, f"pt2d is not numeric (found {_describe(content['pt2d'])})") from None
    if pt2d.shape != (2, points):
        raise BadSourceFile(path, f"pt2d has shape {pt2d.shape}, expected (2, {points})")
    if not np.all(np.isfinite(pt2d)):
        raise BadSourceFile(path, "pt2d holds a NaN or infinite coordinate (a missing point is marked -1)")
    return pt2d.T.copy()


def _describe(value) -> str:
    array = np.asarray(value)
    return f"{array.dtype} of shape {array.shape}" if array.dtype != object else f"a cell of shape {array.shape}"


def landmark_box(landmarks: np.ndarray, path: Path) -> np.ndarray:
    """x1 y1 x2 y2 of the landmarks that are present (not NaN)."""
    valid = landmarks[~np.isnan(landmarks).any(axis=1)]
    if len(valid) < 2:
        raise BadSourceFile(path, f"only {len(valid)} valid landmark(s): cannot build the reference box")
    return np.concatenate([valid.min(axis=0), valid.max(axis=0)])


def paired_sources(folder: Path, root: Path, pattern: str = "*") -> list[SourceItem]:
    """One item per ``NAME.jpg`` / ``NAME.mat`` pair in ``folder`` (either may be missing: read reports it)."""
    names = sorted({p.stem for p in folder.glob(pattern) if p.suffix in (".jpg", ".mat") and p.is_file()})
    items = []
    for stem in names:
        image, mat = folder / f"{stem}.jpg", folder / f"{stem}.mat"
        items.append(SourceItem(key=image.relative_to(root).as_posix(), files=(str(image), str(mat))))
    return items


DDFA_BOXES = ("landmarks", "pt2d")


def read_ddfa_sample(item: SourceItem, points: int, missing_marker: bool) -> Sample:
    """The image, pose, landmarks and boxes of one pair (meta left to the converter).

    ``missing_marker``: AFLW2000 writes an unannotated point as x = −1 (and y = height + 2): any point
    with a negative coordinate becomes NaN in ``landmarks`` and stays out of the ``landmarks`` box.
    The ``pt2d`` box is the min and max of every ``pt2d`` point as the file ships them, markers
    included: the box HopeNet's and 6DRepNet's ``datasets.py`` crop from (``min(pt2d[0, :])`` …).
    """
    image_path, mat_path = item.paths
    if not image_path.is_file():
        raise BadSourceFile(image_path, f"is missing (its annotation {mat_path.name} exists)")
    content = load_mat(mat_path, ["Pose_Para", "pt2d"])
    ypr = read_pose_para(content, mat_path)
    shipped = read_pt2d(content, mat_path, points)
    landmarks = shipped.copy()
    if missing_marker:
        landmarks[(landmarks < 0).any(axis=1)] = np.nan
    data, fmt, height, width = read_image_file(image_path)
    boxes = {"landmarks": landmark_box(landmarks, mat_path),
             "pt2d": np.concatenate([shipped.min(axis=0), shipped.max(axis=0)])}
    return Sample(key=item.key, image=data, image_format=fmt, height=height, width=width, ypr=ypr,
                  landmarks=landmarks, boxes=boxes)
