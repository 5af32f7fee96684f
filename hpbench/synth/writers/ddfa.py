"""Shared pieces of the 3DDFA releases (300W-LP, AFLW2000): the .mat annotation and JPEG files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import scipy.io

from hpbench.synth.scene import HeadLabels

JPEG_QUALITY = 95


def pose_para(labels: HeadLabels, height: int) -> np.ndarray:
    """(1, 7) float32 [pitch, yaw, roll (radians), tx, ty, tz, scale] as 3DDFA writes it.

    tx, ty place the head origin in 3DDFA's y-up image frame (row = height − 1 − ty); the scale is
    pixels per synthetic head unit (real files use Basel-model units, about 1e-3).
    """
    yaw, pitch, roll = np.radians(labels.ypr)
    p = labels.placement
    return np.array([[pitch, yaw, roll, p.cx, height - 1 - p.cy, 0.0, p.scale]], np.float32)


def ypr_from_pose_para(para: np.ndarray) -> np.ndarray:
    """Canonical (yaw, pitch, roll) degrees of a Pose_Para row, as a converter reads it back."""
    para = np.asarray(para, np.float64).reshape(-1)
    return np.degrees(np.array([para[1], para[0], para[2]]))


def pt2d_box(pt2d: np.ndarray) -> np.ndarray:
    """x1 y1 x2 y2 over every point of a (2, K) ``pt2d`` as written, markers included."""
    return np.array([pt2d[0].min(), pt2d[1].min(), pt2d[0].max(), pt2d[1].max()])


def roi(box: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(box, float)).astype(np.int16).reshape(1, 4)


def write_jpeg(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    path.write_bytes(data.tobytes())


def write_mat(path: Path, variables: dict) -> None:
    scipy.io.savemat(path, variables, format="5", do_compression=False, oned_as="row")
