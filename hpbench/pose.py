"""Head-pose conventions.

hpbench's canonical pose is (yaw, pitch, roll) in degrees in the 3DDFA convention, the one of the
``Pose_Para`` field of 300W-LP / AFLW2000 (see docs/CONVENTIONS.md). Its rotation matrix is

    R = Rz(roll) · Ry(yaw) · Rx(pitch)

with the right-handed elementary rotations below (6DRepNet's ``get_R``). Physically, in a camera
frame with x to the image right, y up and z towards the viewer, a head-frame point p appears at
``scale · Rᵀ · p + t`` (checked against the 3-D landmarks of real AFLW2000 files in the tests):
positive yaw turns the face towards the image left, positive pitch raises it, positive roll tilts the
top of the head towards the image right.

Foreign conventions are reached through named adapters (``get_convention``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hpbench.registry import Registry

ANGLE_NAMES = ("yaw", "pitch", "roll")
GIMBAL_LOCK = 1e-9  # cos yaw below which a rotation is decomposed with roll = 0


def _as_ypr(ypr) -> np.ndarray:
    arr = np.asarray(ypr, dtype=np.float64)
    if arr.shape[-1:] != (3,):
        raise ValueError(f"expected (..., 3) angles in degrees, got shape {arr.shape}")
    return arr


def rotation_x(angle_rad) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(np.shape(c) + (3, 3))


def rotation_y(angle_rad) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(np.shape(c) + (3, 3))


def rotation_z(angle_rad) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    o, z = np.ones_like(c), np.zeros_like(c)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(np.shape(c) + (3, 3))


def rotation_from_ypr(ypr) -> np.ndarray:
    """(..., 3) canonical (yaw, pitch, roll) degrees → (..., 3, 3) R = Rz(roll)·Ry(yaw)·Rx(pitch)."""
    yaw, pitch, roll = np.moveaxis(np.radians(_as_ypr(ypr)), -1, 0)
    return rotation_z(roll) @ rotation_y(yaw) @ rotation_x(pitch)


def ypr_from_rotation(rotation) -> np.ndarray:
    """(..., 3, 3) → (..., 3) canonical (yaw, pitch, roll) degrees, yaw in [-90, 90].

    At gimbal lock (cos yaw = hypot(R[0,0], R[1,0]) < GIMBAL_LOCK) roll is set to 0 and pitch
    absorbs the in-plane angle. 6DRepNet's ``compute_euler_angles_from_rotation_matrices`` does the
    same below 1e-6, so for |yaw| within 6e-5° of 90° the two give different, equivalent triples:
    their per-angle MAE can differ there, their geodesic error cannot (docs/CONVENTIONS.md).
    """
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape[-2:] != (3, 3):
        raise ValueError(f"expected (..., 3, 3) rotation matrices, got shape {r.shape}")
    cos_yaw = np.hypot(r[..., 0, 0], r[..., 1, 0])
    singular = cos_yaw < GIMBAL_LOCK
    yaw = np.arctan2(-r[..., 2, 0], cos_yaw)
    pitch = np.where(singular, np.arctan2(-r[..., 1, 2], r[..., 1, 1]), np.arctan2(r[..., 2, 1], r[..., 2, 2]))
    roll = np.where(singular, 0.0, np.arctan2(r[..., 1, 0], r[..., 0, 0]))
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


def _wrap(angles):
    return (np.asarray(angles) + 180.0) % 360.0 - 180.0


def nearest_equivalent(ypr, reference) -> np.ndarray:
    """Of the two Euler triples of one rotation — (y, p, r) and (180 − y, p + 180, r + 180) — and their
    360° shifts, the one nearest to ``reference`` angle by angle (keeps |yaw| > 90° poses continuous)."""
    ypr, reference = np.asarray(ypr, float), np.asarray(reference, float)
    other = ypr + np.array([0.0, 180.0, 180.0])
    other[..., 0] = 180.0 - ypr[..., 0]
    candidates = [reference + _wrap(c - reference) for c in (ypr, other)]
    distance = [np.nanmax(np.abs(c - reference), axis=-1) for c in candidates]
    return np.where((distance[1] < distance[0])[..., None], candidates[1], candidates[0])


def wide_ypr_from_rotation(rotation) -> np.ndarray:
    """(..., 3, 3) → (..., 3) the full-range triple of a rotation: yaw over the whole circle
    (−180, 180], pitch and roll inside (−90, 90). Of the two Euler triples of R — (y, p, r) and
    (180 − y, p ± 180, r ± 180) — the one whose pitch and roll both lie inside ±90°; NaN where neither
    does (one of them beyond 90° in each). This is the choice of WHENet's and DirectMHP's Panoptic
    labels (hnuzhy/DirectMHP exps/CMU/hpe_utils.py, ``select_euler``), so a head seen from behind
    keeps a small pitch and roll and a yaw beyond 90°."""
    first = ypr_from_rotation(rotation)
    second = first + np.array([0.0, 180.0, 180.0])
    second[..., 0] = 180.0 - first[..., 0]
    second = -_wrap(-second)  # into (−180, 180]
    inside = [np.all(np.abs(c[..., 1:]) < 90.0, axis=-1) for c in (first, second)]
    chosen = np.where(inside[0][..., None], first, second)
    return np.where((inside[0] | inside[1])[..., None], chosen, np.nan)


def full_range_yaw(ypr) -> np.ndarray:
    """(..., 3) any triples → (...) the yaw of each rotation's full-range triple (how far the head is
    turned from the camera, over the whole circle); NaN where the rotation has none."""
    return wide_ypr_from_rotation(rotation_from_ypr(ypr))[..., 0]


def flip_horizontal(ypr) -> np.ndarray:
    """Pose of the mirrored image: yaw and roll change sign, pitch stays."""
    return _as_ypr(ypr) * np.array([-1.0, 1.0, -1.0])


def rotate_in_plane(ypr, angle_deg) -> np.ndarray:
    """Pose after rotating the image by ``angle_deg`` counter-clockwise as displayed.

    This is the rotation ``cv2.getRotationMatrix2D(centre, angle_deg, 1)`` applies. The camera-frame
    head rotation Rᵀ gains Rz(angle) on the left, so R becomes R · Rz(−angle); for a frontal face the
    roll decreases by ``angle_deg``. Of the equivalent Euler triples the one nearest the input is
    returned, so a pose beyond |yaw| = 90° stays beyond it instead of jumping to pitch and roll ± 180°.
    """
    rotated = rotation_from_ypr(ypr) @ rotation_z(-np.radians(np.asarray(angle_deg, dtype=np.float64)))
    return nearest_equivalent(ypr_from_rotation(rotated), ypr)


def inside_range(ypr, limit: float = 99.0) -> np.ndarray:
    """The inclusive filter of the protocols: every present (non-NaN) angle within ±limit."""
    arr = np.abs(_as_ypr(ypr))
    return np.all(np.isnan(arr) | (arr <= limit), axis=-1)


@dataclass(frozen=True)
class Convention:
    """How another code base writes a pose, and how to convert it to and from the canonical one."""

    name: str
    description: str
    value_shape: tuple[int, ...]
    to_canonical: Callable[[np.ndarray], np.ndarray]
    from_canonical: Callable[[np.ndarray], np.ndarray]
    value_names: tuple[str, ...] = ("yaw", "pitch", "roll")  # for vector values


CONVENTIONS: Registry[Convention] = Registry("pose convention")


def get_convention(name: str) -> Convention:
    return CONVENTIONS.get(name)


def _register(convention: Convention) -> None:
    CONVENTIONS.register(convention.name)(convention)


def _identity(values: np.ndarray) -> np.ndarray:
    return _as_ypr(values).copy()


def _kd_to_canonical(values: np.ndarray) -> np.ndarray:
    pitch, yaw, roll = np.moveaxis(_as_ypr(values), -1, 0)
    return np.stack([yaw, -pitch, roll], axis=-1)


def _canonical_to_kd(ypr: np.ndarray) -> np.ndarray:
    yaw, pitch, roll = np.moveaxis(_as_ypr(ypr), -1, 0)
    return np.stack([-pitch, yaw, roll], axis=-1)


# BIWI's pose.txt rotation lives in the Kinect camera frame (x right, y down, z away from the viewer),
# the canonical camera frame turned 180° about x: R_file = G · Rᵀ · G with G = diag(1, −1, −1).
# Reading it back is HopeNet / FSA-Net's formula on R_file.T, kept in this exact form.
_FLIP_YZ = np.diag([1.0, -1.0, -1.0])


def _biwi_to_canonical(rotation_file: np.ndarray) -> np.ndarray:
    r = np.swapaxes(np.asarray(rotation_file, dtype=np.float64), -1, -2)
    roll = -np.arctan2(r[..., 1, 0], r[..., 0, 0])
    yaw = -np.arctan2(-r[..., 2, 0], np.hypot(r[..., 2, 1], r[..., 2, 2]))
    pitch = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


def _canonical_to_biwi(ypr: np.ndarray) -> np.ndarray:
    return _FLIP_YZ @ np.swapaxes(rotation_from_ypr(ypr), -1, -2) @ _FLIP_YZ


# ETH-XGaze's face_head_pose = [pitch, yaw] (radians) are the spherical angles of the head's z axis
# (pointing into the head) in the normalised camera frame (x right, y down, z forward):
# z = (cos p · sin y, sin p, cos p · cos y). In the canonical convention that axis is
# (sin yaw, cos yaw · sin pitch, cos yaw · cos pitch) whatever the roll, so yaw and pitch follow
# exactly; the signs agree (up and towards the image left are positive in both).
def _xgaze_to_canonical(values: np.ndarray) -> np.ndarray:
    pitch, yaw = np.moveaxis(np.radians(np.asarray(values, dtype=np.float64)), -1, 0)
    canonical_yaw = np.arcsin(np.clip(np.cos(pitch) * np.sin(yaw), -1, 1))
    canonical_pitch = np.arctan2(np.sin(pitch), np.cos(pitch) * np.cos(yaw))
    nan = np.full_like(canonical_yaw, np.nan)
    return np.stack([np.degrees(canonical_yaw), np.degrees(canonical_pitch), nan], axis=-1)


def _canonical_to_xgaze(ypr: np.ndarray) -> np.ndarray:
    yaw, pitch = np.moveaxis(np.radians(_as_ypr(ypr)[..., :2]), -1, 0)
    axis = np.stack([np.sin(yaw), np.cos(yaw) * np.sin(pitch), np.cos(yaw) * np.cos(pitch)], axis=-1)
    return np.degrees(np.stack([np.arcsin(np.clip(axis[..., 1], -1, 1)), np.arctan2(axis[..., 0], axis[..., 2])], -1))


_register(Convention("hpbench", "(yaw, pitch, roll) degrees, 3DDFA signs", (3,), _identity, _identity))
_register(
    Convention("hopenet", "HopeNet: (yaw, pitch, roll) degrees, 3DDFA signs", (3,), _identity, _identity)
)
_register(
    Convention(
        "kd",
        "kd_oe_hpe: [pitch, yaw, roll] degrees with pitch negated",
        (3,),
        _kd_to_canonical,
        _canonical_to_kd,
        ("pitch", "yaw", "roll"),
    )
)
_register(
    Convention(
        "biwi",
        "BIWI pose.txt rotation matrix (Kinect camera frame), read with HopeNet's formula",
        (3, 3),
        _biwi_to_canonical,
        _canonical_to_biwi,
    )
)
_register(
    Convention(
        "eth-xgaze",
        "ETH-XGaze face_head_pose [pitch, yaw] in degrees; no roll (NaN)",
        (2,),
        _xgaze_to_canonical,
        _canonical_to_xgaze,
        ("pitch", "yaw"),
    )
)
_register(
    Convention(
        "6drepnet",
        "6DRepNet: rotation matrix R = Rz(roll)·Ry(yaw)·Rx(pitch)",
        (3, 3),
        ypr_from_rotation,
        rotation_from_ypr,
    )
)
