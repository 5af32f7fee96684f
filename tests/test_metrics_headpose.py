"""Head-pose errors on hand-worked cases, and the metric names a protocol's ``metrics:`` list uses."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench.errors import HpbenchError
from hpbench.metrics import compute_metrics, geodesic_errors, mean_absolute_errors, parse_metric, vector_errors
from hpbench.pose import rotation_from_ypr, ypr_from_rotation


def test_mae_hand_worked_without_wrapping():
    truth = np.array([[170.0, 0, 0], [10, 20, -30]])
    predicted = np.array([[-170.0, 5, 0], [12, 18, -27]])
    scores = mean_absolute_errors(predicted, truth)
    assert scores == {"mae_yaw": 171.0, "mae_pitch": 3.5, "mae_roll": 1.5, "mae": pytest.approx(176 / 3)}  # 340° stays


def test_mae_leaves_out_an_angle_the_truth_lacks_and_scores_in_a_convention():
    truth = np.array([[10.0, 20, np.nan], [0, 0, np.nan]])
    predicted = np.array([[12.0, 20, 5], [0, 4, 7]])
    scores = mean_absolute_errors(predicted, truth)
    assert np.isnan(scores["mae_roll"]) and scores["mae"] == pytest.approx((1 + 2) / 2)
    eth = compute_metrics(["mae", "geodesic"], predicted, truth, convention="eth-xgaze")
    assert set(eth) == {"mae_pitch", "mae_yaw", "mae", "geodesic"} and np.isnan(eth["geodesic"])


def test_geodesic_error_of_a_pure_turn():
    truth = np.array([[0.0, 0, 0], [20, 0, 0], [0, 0, 40]])
    predicted = np.array([[30.0, 0, 0], [20, 0, 0], [0, 0, -10]])
    np.testing.assert_allclose(geodesic_errors(predicted, truth), [30, 0, 50], atol=1e-6)


def test_metric_names_and_their_parameters():
    assert parse_metric("pck@0.2")[1] == {"alpha": 0.2} and parse_metric("mae")[1] == {}
    with pytest.raises(HpbenchError, match="takes no @ parameter"):
        parse_metric("mae@0.2")
    with pytest.raises(HpbenchError, match="needs its alpha"):
        parse_metric("pckh")
    with pytest.raises(HpbenchError, match="Did you mean 'mae' or 'maev'"):
        parse_metric("mave")
    with pytest.raises(HpbenchError, match="needs head_boxes"):
        compute_metrics(["pckh@0.5"], np.zeros((1, 16, 2)), np.zeros((1, 16, 2)))


def test_maev_compares_the_heads_axes():
    """A pose turned about the head's own front axis: its front vector stays, left and down turn."""
    truth = np.array([[40.0, 20.0, 10.0]])
    rotation = rotation_from_ypr(truth)[0]
    front = rotation[2]  # rows of R: the head's left, down and front axes in the camera (Rᵀ·p)
    cross = np.array([[0, -front[2], front[1]], [front[2], 0, -front[0]], [-front[1], front[0], 0]])
    turn = np.eye(3) + np.sin(np.radians(30)) * cross + (1 - np.cos(np.radians(30))) * cross @ cross  # Rodrigues
    predicted = ypr_from_rotation(rotation @ turn.T)[None]  # each axis a ↦ turn·a
    np.testing.assert_allclose(vector_errors(predicted, truth), [[30.0, 30.0, 0.0]], atol=1e-6)


def _sixdrepnet_vector_errors(predicted_ypr, truth_ypr):
    """6DRepNet's test.py, written again: R = get_R(pitch, yaw, roll) = Rz·Ry·Rx (utils.py, radians);
    v_i = acos(clamp(Σ R_gt[:, i] · R_pred[:, i])) over (B, 3, 3) tensors, in degrees."""
    import torch

    def get_r(ypr):
        yaw, pitch, roll = np.radians(ypr)
        rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
        ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
        return rz.dot(ry.dot(rx))

    r_gt = torch.tensor(np.array([get_r(v) for v in truth_ypr]))
    r_pred = torch.tensor(np.array([get_r(v) for v in predicted_ypr]))
    return np.stack([(torch.acos(torch.clamp(torch.sum(r_gt[:, i] * r_pred[:, i], 1), -1, 1)) * 180 / np.pi).numpy()
                     for i in range(3)], axis=1)


def test_maev_equals_sixdrepnets_on_the_real_aflw2000_poses(real_samples):
    import scipy.io

    poses = []
    for mat in sorted((real_samples / "aflw2000_3d").glob("*.mat")):
        pitch, yaw, roll = np.degrees(scipy.io.loadmat(mat)["Pose_Para"][0, :3].astype(np.float64))
        poses.append([yaw, pitch, roll])
    truth = np.array(poses)
    predicted = np.roll(truth, 1, axis=0)  # every real pose scored against another one
    np.testing.assert_allclose(vector_errors(predicted, truth), _sixdrepnet_vector_errors(predicted, truth), atol=1e-6)


def test_wrapped_errors_are_named_apart_from_mae():
    truth = np.zeros((3, 3))
    predicted = np.array([[179.0, 0, 0], [-350.0, 0, 0], [200.0, 0, 0]])
    wrap180 = compute_metrics(["mae_wrap180"], predicted, truth)
    wrap360 = compute_metrics(["mae_wrap360"], predicted, truth)
    assert wrap180["mae_wrap180_yaw"] == pytest.approx((1 + 10 + 20) / 3)  # a 180° flip is forgiven
    assert wrap360["mae_wrap360_yaw"] == pytest.approx((179 + 10 + 160) / 3)
    assert mean_absolute_errors(predicted, truth)["mae_yaw"] == pytest.approx((179 + 350 + 200) / 3)
    assert "mae" not in wrap180 and "mae" not in wrap360


def test_wrap180_equals_sixdrepnets_test_formula():
    """6DRepNet's test.py (and 6DRepNet360's as stored): per angle min(|gt − p|, |p + 360 − gt|,
    |p − 360 − gt|, |p + 180 − gt|, |p − 180 − gt|), written again here with torch."""
    import torch

    rng = np.random.default_rng(4)
    truth, predicted = rng.uniform(-99, 99, (200, 3)), rng.uniform(-200, 200, (200, 3))
    gt, p = torch.tensor(truth), torch.tensor(predicted)
    peer = torch.min(torch.stack((torch.abs(gt - p), torch.abs(p + 360 - gt), torch.abs(p - 360 - gt),
                                  torch.abs(p + 180 - gt), torch.abs(p - 180 - gt))), 0)[0].mean(0).numpy()
    ours = compute_metrics(["mae_wrap180"], predicted, truth)
    np.testing.assert_allclose([ours[f"mae_wrap180_{a}"] for a in ("yaw", "pitch", "roll")], peer, atol=1e-12)


def test_near_gimbal_lock_the_two_decompositions_differ_and_the_geodesic_error_does_not():
    """Within 6e-5° of yaw 90°, 6DRepNet's decomposition (singular below sy = 1e-6, utils.py
    compute_euler_angles_from_rotation_matrices, written again here) sets roll = 0; hpbench's (1e-9)
    does not. The triples are the same rotation: per-angle errors differ, the geodesic one does not."""
    from hpbench.pose import GIMBAL_LOCK

    ypr = np.array([90.0 - 2e-5, 20.0, 30.0])
    r = rotation_from_ypr(ypr)
    sy = np.hypot(r[0, 0], r[1, 0])
    assert GIMBAL_LOCK < sy < 1e-6
    sixdrepnet = np.degrees([np.arctan2(-r[2, 0], sy), np.arctan2(-r[1, 2], r[1, 1]), 0.0])  # (yaw, pitch, roll)
    ours = ypr_from_rotation(r)
    np.testing.assert_allclose(ours, ypr, atol=1e-3)
    np.testing.assert_allclose(rotation_from_ypr(sixdrepnet), r, atol=1e-6)
    assert np.abs(ours - sixdrepnet).max() > 25  # pitch and roll disagree by tens of degrees
    np.testing.assert_allclose(geodesic_errors(sixdrepnet[None], ours[None]), [0.0], atol=1e-3)
