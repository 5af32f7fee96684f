"""Pose conventions: exact values, round trips, adapters, flips and in-plane rotations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hpbench.pose import (
    flip_horizontal,
    get_convention,
    inside_range,
    rotate_in_plane,
    rotation_from_ypr,
    ypr_from_rotation,
)
from hpbench.registry import UnknownName
from hpbench.synth.raycast import Placement, project

H = np.sqrt(0.5)
S3 = np.sqrt(3) / 2


@pytest.mark.parametrize(
    "ypr, expected",
    [
        ((90, 0, 0), [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]),  # Ry(90)
        ((0, 90, 0), [[1, 0, 0], [0, 0, -1], [0, 1, 0]]),  # Rx(90)
        ((0, 0, 90), [[0, -1, 0], [1, 0, 0], [0, 0, 1]]),  # Rz(90)
        ((0, 0, 30), [[S3, -0.5, 0], [0.5, S3, 0], [0, 0, 1]]),
        ((90, 90, 0), [[0, 1, 0], [0, 0, -1], [-1, 0, 0]]),  # Ry(90)·Rx(90), worked by hand
        ((45, 0, 90), [[0, -1, 0], [H, 0, H], [-H, 0, H]]),  # Rz(90)·Ry(45)
    ],
)
def test_rotation_hand_worked(ypr, expected):
    np.testing.assert_allclose(rotation_from_ypr(ypr), expected, atol=1e-12)


def test_rotation_matches_scipy_intrinsic_zyx():
    rng = np.random.default_rng(0)
    ypr = rng.uniform(-180, 180, (500, 3))
    reference = Rotation.from_euler("ZYX", ypr[:, [2, 0, 1]], degrees=True).as_matrix()
    np.testing.assert_allclose(rotation_from_ypr(ypr), reference, atol=1e-12)


@pytest.mark.parametrize("ypr", [(0, 0, 30), (20, -10, 5), (-60, 45, -120), (89, 10, 10)])
def test_euler_extraction_hand_worked(ypr):
    np.testing.assert_allclose(ypr_from_rotation(rotation_from_ypr(ypr)), ypr, atol=1e-10)


def test_round_trip_10000_random_poses():
    rng = np.random.default_rng(1)
    ypr = np.stack([rng.uniform(-89.9, 89.9, 10_000), rng.uniform(-179.9, 179.9, 10_000),
                    rng.uniform(-179.9, 179.9, 10_000)], axis=1)
    error = np.abs(ypr_from_rotation(rotation_from_ypr(ypr)) - ypr).max()
    assert error < 1e-4
    rotations = Rotation.random(10_000, random_state=2).as_matrix()
    np.testing.assert_allclose(rotation_from_ypr(ypr_from_rotation(rotations)), rotations, atol=1e-9)


def test_gimbal_lock_still_gives_the_same_rotation():
    for ypr in [(90, 20, 30), (-90, -40, 10)]:
        rotation = rotation_from_ypr(ypr)
        np.testing.assert_allclose(rotation_from_ypr(ypr_from_rotation(rotation)), rotation, atol=1e-9)


def test_kd_convention_negates_pitch_and_reorders():
    kd = get_convention("kd")
    ypr = np.array([[10.0, 20.0, 30.0], [-50.0, 5.0, -7.5]])
    np.testing.assert_array_equal(kd.from_canonical(ypr), [[-20.0, 10.0, 30.0], [-5.0, -50.0, -7.5]])
    np.testing.assert_array_equal(kd.to_canonical(kd.from_canonical(ypr)), ypr)
    assert kd.from_canonical(ypr)[0, 0] == -ypr[0, 1]


def test_hopenet_and_hpbench_conventions_are_identity():
    ypr = np.random.default_rng(3).uniform(-90, 90, (20, 3))
    for name in ("hopenet", "hpbench"):
        np.testing.assert_array_equal(get_convention(name).to_canonical(ypr), ypr)


def test_6drepnet_convention_is_the_rotation_matrix():
    six = get_convention("6drepnet")
    ypr = np.random.default_rng(4).uniform(-80, 80, (50, 3))
    matrices = six.from_canonical(ypr)
    assert matrices.shape == (50, 3, 3)
    np.testing.assert_allclose(six.to_canonical(matrices), ypr, atol=1e-9)


def test_unknown_convention_suggests_a_name():
    with pytest.raises(UnknownName, match="did you mean 'kd'|Did you mean 'kd'"):
        get_convention("kdd")


def _points():
    return np.random.default_rng(5).uniform(-1, 1, (40, 3))


def test_flip_mirrors_the_projection_exactly():
    width, ypr = 300, np.array([35.0, -12.0, 20.0])
    placement = Placement(80.0, 140.0, 160.0)
    points = _points()
    uv, _ = project(points, rotation_from_ypr(ypr), placement)
    mirrored_points = points * [-1, 1, 1]
    mirrored_placement = Placement(80.0, width - 1 - 140.0, 160.0)
    uv_flip, _ = project(mirrored_points, rotation_from_ypr(flip_horizontal(ypr)), mirrored_placement)
    np.testing.assert_allclose(uv_flip[:, 0], width - 1 - uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(uv_flip[:, 1], uv[:, 1], atol=1e-9)
    np.testing.assert_array_equal(flip_horizontal([10, 20, 30]), [-10, 20, -30])


@pytest.mark.parametrize("angle", [-15.0, 7.5, 15.0, 40.0])
def test_in_plane_rotation_matches_cv2_image_rotation(angle):
    ypr, placement = np.array([25.0, 10.0, -5.0]), Placement(90.0, 150.0, 140.0)
    points = _points()
    uv, _ = project(points, rotation_from_ypr(ypr), placement)
    affine = cv2.getRotationMatrix2D((placement.cx, placement.cy), angle, 1.0)
    rotated_uv = uv @ affine[:, :2].T + affine[:, 2]
    uv_new, _ = project(points, rotation_from_ypr(rotate_in_plane(ypr, angle)), placement)
    np.testing.assert_allclose(uv_new, rotated_uv, atol=1e-9)


def test_in_plane_rotation_of_a_frontal_face_changes_roll_only():
    np.testing.assert_allclose(rotate_in_plane([0, 0, 10], 15), [0, 0, -5], atol=1e-12)


def test_filter_is_inclusive_and_ignores_missing_angles():
    ypr = np.array([[99, 0, 0], [-99, 99, -99], [99.001, 0, 0], [0, 0, -100], [50, 99, np.nan], [120, 0, np.nan]])
    np.testing.assert_array_equal(inside_range(ypr), [True, True, False, False, True, False])


def test_biwi_convention_round_trip():
    biwi = get_convention("biwi")
    ypr = np.random.default_rng(6).uniform(-85, 85, (300, 3))
    matrices = biwi.from_canonical(ypr)
    np.testing.assert_allclose(matrices @ np.swapaxes(matrices, -1, -2), np.broadcast_to(np.eye(3), matrices.shape),
                               atol=1e-12)
    np.testing.assert_allclose(biwi.to_canonical(matrices), ypr, atol=1e-9)


def test_xgaze_angles_are_the_head_axis_in_the_normalised_camera():
    """ETH-XGaze's [pitch, yaw]: spherical angles of the head's inward z axis in a camera frame with
    y down and z forward; derived here from the canonical rotation, whatever the roll."""
    xgaze = get_convention("eth-xgaze")
    ypr = np.random.default_rng(8).uniform(-80, 80, (300, 3))
    inward = -np.swapaxes(rotation_from_ypr(ypr), -1, -2)[..., :, 2]  # −Rᵀ·e_z, y up, z to the viewer
    axis = inward * [1, -1, -1]  # to y down, z forward
    expected = np.degrees(np.stack([np.arcsin(axis[:, 1]), np.arctan2(axis[:, 0], axis[:, 2])], axis=1))
    np.testing.assert_allclose(xgaze.from_canonical(ypr), expected, atol=1e-9)
    back = xgaze.to_canonical(expected)
    np.testing.assert_allclose(back[:, :2], ypr[:, :2], atol=1e-9)
    assert np.isnan(back[:, 2]).all()


def test_xgaze_angles_worked_examples():
    xgaze = get_convention("eth-xgaze")
    np.testing.assert_allclose(xgaze.from_canonical([[30, 0, 0], [0, 20, 0]]), [[0, 30], [20, 0]], atol=1e-12)
    yaw, pitch, _ = xgaze.to_canonical([30.0, 60.0])  # ETH (pitch 30°, yaw 60°)
    assert yaw == pytest.approx(np.degrees(np.arcsin(np.cos(np.radians(30)) * np.sin(np.radians(60)))))
    assert (round(yaw, 1), round(pitch, 1)) == (48.6, 49.1)


def test_in_plane_rotation_keeps_poses_beyond_90_degrees_continuous():
    """yaw 120° stays beyond 90° rather than jumping to the equivalent (60°, pitch ± 180°, roll ± 180°)."""
    rotated = rotate_in_plane([120.0, 5.0, 0.0], 5.0)
    assert 115 < rotated[0] < 125 and abs(rotated[1]) < 15 and abs(rotated[2]) < 15
    placement, points = Placement(90.0, 150.0, 140.0), _points()
    affine = cv2.getRotationMatrix2D((150.0, 140.0), 5.0, 1.0)
    uv, _ = project(points, rotation_from_ypr([120.0, 5.0, 0.0]), placement)
    np.testing.assert_allclose(project(points, rotation_from_ypr(rotated), placement)[0],
                               uv @ affine[:, :2].T + affine[:, 2], atol=1e-9)
