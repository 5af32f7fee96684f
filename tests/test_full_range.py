"""Full range: CMU Panoptic's labels by WHENet's rule, the full-range Euler triple, the protocols
that keep backs of heads, the geodesic loss and a rotation-matrix model learning them."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from hpbench.converters.panoptic import (
    FACE70_POINTS,
    MODEL_POINTS,
    REFERENCE_HEAD,
    SPHERE,
    head_box,
    head_in_world,
    head_pose,
    project,
)
from hpbench.format import HPFile
from hpbench.metrics import compute_metrics
from hpbench.pose import rotation_from_ypr, wide_ypr_from_rotation, ypr_from_rotation
from hpbench.protocols import load_protocol, select
from tests.conftest import run_cli


def _random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _camera(rng, rotation=None) -> dict:
    return {"K": np.array([[1400.0, 0, 960], [0, 1400.0, 540], [0, 0, 1]]), "distCoef": rng.uniform(-0.05, 0.05, 5),
            "R": _random_rotation(rng) if rotation is None else rotation, "t": np.array([0.0, 0.0, 300.0]),
            "resolution": (1920, 1080)}


def _landmarks(head_rotation, scale, translation, rng) -> tuple[np.ndarray, np.ndarray]:
    landmarks = rng.normal(0, 50, (70, 3))
    landmarks[FACE70_POINTS] = scale * REFERENCE_HEAD[MODEL_POINTS] @ head_rotation.T + translation
    return landmarks, rng.uniform(0.2, 1.0, 70)


@pytest.mark.parametrize("ypr", [[150.0, 20.0, -10.0], [-170.0, -35.0, 25.0], [5.0, 10.0, 3.0], [-95.0, 40.0, -60.0]])
def test_landmarks_from_a_known_rotation_give_that_rotation(ypr):
    """A head whose alignment landmarks are the reference head moved by a known rotation: the camera's
    view of it is that rotation to 1e-6°, backs of heads included."""
    rng = np.random.default_rng(0)
    camera = _camera(rng)
    wanted = rotation_from_ypr(ypr)
    gl_from_cv = np.diag([1.0, -1.0, -1.0])
    head_rotation = camera["R"].T @ gl_from_cv @ wanted.T  # so that (G · R · Rh)ᵀ is the wanted rotation
    landmarks, scores = _landmarks(head_rotation, 1.07, np.array([10.0, -150.0, 40.0]), rng)
    scores[FACE70_POINTS[:7]] = 0.05  # seven below 0.1 are dropped: the other seven are enough
    rotation, _, scale = head_in_world(landmarks, scores)
    derived = wide_ypr_from_rotation(head_pose(camera, rotation))
    np.testing.assert_allclose(derived, ypr, atol=1e-6)
    assert scale == pytest.approx(1.07)
    scores[FACE70_POINTS[7]] = 0.05
    assert "fewer than 7 of the 14" in head_in_world(landmarks, scores)


def _directmhp_angles(camera_rotation, head_rotation, head_translation):
    """DirectMHP's chain (exps/CMU/data_statistic_hpe.py auto_labels_generating, hpe_utils.py
    inverse_rotate_zyx and select_euler), written out as a reference: (pitch, yaw, roll) or None."""
    e_ref = np.array([[1, 0, 0, 0.0], [0, -1, 0, 0], [0, 0, -1, 50], [0, 0, 0, 1]])
    temp = np.eye(4)
    temp[:3, :3], temp[:3, 3] = head_rotation, head_translation
    e_virt = np.linalg.inv(temp @ np.linalg.inv(e_ref))
    e_real = np.eye(4)
    e_real[:3, :3] = camera_rotation
    m = e_real @ np.linalg.inv(e_virt)
    y0 = np.arcsin(-m[0, 2])
    sets = []
    for y in (y0, np.pi - y0):
        c = np.cos(y)
        sets.append(np.degrees([np.arctan2(m[1, 2] / c, m[2, 2] / c), y, np.arctan2(m[0, 1] / c, m[0, 0] / c)]))
    for pitch, yaw, roll in sets:
        yaw = yaw - 360 if yaw > 180 else yaw
        if abs(roll) < 90 and abs(pitch) < 90:
            return np.array([pitch, -yaw, -roll])
    return None


def test_the_rule_gives_directmhps_angles():
    """hpbench's (G · R · Rh)ᵀ and its full-range triple equal DirectMHP's Euler chain, angle for angle,
    and both leave out the same rotations."""
    rng = np.random.default_rng(1)
    compared = dropped = 0
    for _ in range(400):
        camera_rotation, head_rotation = _random_rotation(rng), _random_rotation(rng)
        theirs = _directmhp_angles(camera_rotation, head_rotation, rng.normal(0, 30, 3))
        ours = wide_ypr_from_rotation(head_pose({"R": camera_rotation}, head_rotation))
        if theirs is None:
            assert np.isnan(ours).all()
            dropped += 1
            continue
        pitch, yaw, roll = theirs
        np.testing.assert_allclose(ours, [yaw, pitch, roll], atol=1e-9)
        compared += 1
    assert compared > 150 and dropped > 100  # about half of uniformly random rotations have no such triple


def test_the_box_is_the_sphere_through_opencv_projection():
    rng = np.random.default_rng(2)
    camera = _camera(rng, rotation=np.eye(3))
    fit = (np.eye(3), np.array([5.0, -3.0, 20.0]), 1.0)
    points = SPHERE + fit[1]
    opencv, _ = cv2.projectPoints(points, cv2.Rodrigues(camera["R"])[0], camera["t"], camera["K"], camera["distCoef"])
    np.testing.assert_allclose(project(points, camera), opencv.reshape(-1, 2), atol=1e-6)
    uv = opencv.reshape(-1, 2)
    expected = [int(max(uv[:, 0].min(), 0)), int(max(uv[:, 1].min(), 0)), int(min(uv[:, 0].max(), 1920)),
                int(min(uv[:, 1].max(), 1080))]
    assert head_box(camera, fit).tolist() == expected
    near = (np.eye(3), np.array([0.0, 0.0, -250.0]), 1.0)  # 50 cm from the camera: too large a share
    assert "too large" in head_box(camera, near)


def test_wide_triples_keep_pitch_and_roll_small():
    rng = np.random.default_rng(3)
    rotations = np.array([_random_rotation(rng) for _ in range(300)])
    wide = wide_ypr_from_rotation(rotations)
    valid = np.isfinite(wide).all(axis=1)
    np.testing.assert_allclose(rotation_from_ypr(wide[valid]), rotations[valid], atol=1e-12)
    assert np.all(np.abs(wide[valid, 1:]) < 90) and np.any(np.abs(wide[valid, 0]) > 90)
    narrow = ypr_from_rotation(rotations[valid])
    inside = np.all(np.abs(narrow[:, 1:]) < 90, axis=1)
    np.testing.assert_allclose(wide[valid][inside], narrow[inside], atol=1e-12)  # the same where both fit


def test_rotation_distance_is_dad3dheads_formula():
    """‖I − R_pred·R_trueᵀ‖_F as dad_3dheads_benchmark/benchmark.py computes it, on random poses."""
    rng = np.random.default_rng(4)
    truth, predicted = rng.uniform(-180, 180, (50, 3)), rng.uniform(-180, 180, (50, 3))
    reference = np.mean([np.linalg.norm(np.eye(3) - p @ t.T, "fro")
                         for p, t in zip(rotation_from_ypr(predicted), rotation_from_ypr(truth))])
    assert compute_metrics(("rotation_fro",), predicted, truth)["rotation_fro"] == pytest.approx(reference)


def test_geodesic_loss_is_the_angle_between_rotations():
    from hpbench.training.losses import geodesic_loss

    truth = torch.tensor(rotation_from_ypr([[170.0, 10, -5], [0, 0, 0]]), dtype=torch.float64)
    predicted = torch.tensor(rotation_from_ypr([[-170.0, 10, -5], [0, 30, 0]]), dtype=torch.float64)
    loss = geodesic_loss(None)(predicted, truth, None)
    assert float(loss) == pytest.approx(np.radians((20 + 30) / 2), abs=1e-6)


def test_synthetic_panoptic_shows_every_side_of_the_head(synth_panoptic, prepared_panoptic):
    data = HPFile(prepared_panoptic)
    yaw = np.abs(data.ypr[:, 0])
    assert (yaw > 120).any() and (yaw < 60).any()
    assert {str(c) for c in data.meta("camera")} == {f"00_{i:02d}" for i in range(8)}  # the VGA ones skipped


def test_narrow_and_full_range_selections(synth_panoptic, prepared_panoptic, tmp_path):
    data = HPFile(prepared_panoptic)
    text = (tmp_path / "p.yaml")
    text.write_text("name: mine\nversion: 1\ntask: headpose\ncrop: kd\nmetrics: [geodesic]\nsplits:\n  test:\n"
                    "    - {dataset: panoptic, select: {rule: all_of, rules: [{rule: meta_in, where: {person: [3]}},"
                    " {rule: yaw_within, limit: 90}]}, boxes: sphere}\n")
    (selection,) = select(load_protocol(text), "test", prepared_panoptic.parent)
    wide = wide_ypr_from_rotation(rotation_from_ypr(data.ypr.astype(np.float64)))
    assert selection.indices.tolist() == np.flatnonzero(np.abs(wide[:, 0]) < 90).tolist()
    text.write_text(text.read_text().replace("limit: 90", "lmit: 90"))
    with pytest.raises(Exception, match="lmit"):
        load_protocol(text)


def test_panoptic_options_and_errors(synth_panoptic, tmp_path, capsys):
    raw = synth_panoptic[0]
    code, out, err = run_cli(capsys, "prepare", "panoptic", "--src", raw, "--out", tmp_path / "a", "--cameras",
                             "00_00,00_04", "--stride", "60")
    assert code == 0, err
    data = HPFile(tmp_path / "a" / "panoptic.h5")
    assert {str(c) for c in data.meta("camera")} == {"00_00", "00_04"}
    assert set(data.meta("frame").tolist()) == {300}  # of the face frames 300, 330, 390: the multiples of 60
    code, _, err = run_cli(capsys, "prepare", "panoptic", "--src", raw, "--out", tmp_path / "b", "--cameras", "00_99")
    assert code == 1 and "00_99 are not HD cameras" in err
    broken = tmp_path / "raw"
    shutil.copytree(raw, broken)
    face = sorted((broken / "synth_pose1" / "hdFace3d").iterdir())[0]
    face.write_text('{"people": [{"id": 1, "face70": {"landmarks": [1, 2], "averageScore": []}}]}')
    code, _, err = run_cli(capsys, "prepare", "panoptic", "--src", broken, "--out", tmp_path / "c")
    assert code == 1 and face.name in err and "face70" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_rotation_matrix_model_learns_full_range_heads(tmp_path, capsys):
    """The learning proof: 6DRepNet's representation and geodesic loss (RepVGG-A0 at 64 px) trained on
    synthetic heads seen from all around beats predicting the training mean in geodesic error on
    held-out frames, backs of heads among them."""
    from hpbench.synth.writers import write_sample

    write_sample("panoptic", tmp_path / "raw", 480, seed=0, size=256)
    assert run_cli(capsys, "prepare", "panoptic", "--src", tmp_path / "raw", "--out", tmp_path / "data")[0] == 0
    code, _, err = run_cli(capsys, "train", "demo-sixdrepnet", "--protocol", "synthetic-fr", "--data",
                           tmp_path / "data", "--out", tmp_path / "run")
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "run" / "model.pt", "--protocol", "synthetic-fr",
                             "--data", tmp_path / "data", "--out", tmp_path / "record.json")
    assert code == 0, err
    result = json.loads((tmp_path / "record.json").read_text())["results"]["panoptic"]
    geodesic, baseline = result["metrics"]["geodesic"], result["mean_predictor_scores"]["geodesic"]
    behind = sum(v["n"] for k, v in result["by_yaw"].items() if int(k.split("-")[0]) >= 90)
    assert behind > 10 and geodesic < 0.8 * baseline, (geodesic, baseline)


def test_dad3dheads_rotation_is_the_benchmarks(tmp_path):
    """A model-view matrix made from a known pose (times a uniform scale) gives that pose back; the
    rotation_fro metric on hpbench's labels equals the benchmark's pose error on the raw matrices."""
    from hpbench.converters.dad3dheads import rotation_of
    from hpbench.errors import BadSourceFile

    rng = np.random.default_rng(5)
    poses, matrices = rng.uniform([-180, -60, -40], [180, 60, 40], (30, 3)), []
    for ypr in poses:
        model_view = np.eye(4)
        model_view[:3, :3] = rng.uniform(0.5, 2) * rotation_from_ypr(ypr).T
        matrices.append(model_view)
        np.testing.assert_allclose(rotation_of(model_view, tmp_path), rotation_from_ypr(ypr), atol=1e-12)
    rot_180 = np.diag([1.0, -1, -1, 1])  # benchmark.py get_gt_rot_mat
    gt = [(rot_180 @ (m / np.cbrt(np.linalg.det(m[:3, :3]))))[:3, :3] for m in matrices]
    predicted = poses + rng.normal(0, 15, poses.shape)
    pred_gt = [np.diag([1.0, -1, -1]) @ rotation_from_ypr(p).T for p in predicted]  # the same mapping, inverted
    theirs = np.mean([np.linalg.norm(np.eye(3) - p @ t.T, "fro") for p, t in zip(pred_gt, gt)])
    assert compute_metrics(("rotation_fro",), predicted, poses)["rotation_fro"] == pytest.approx(theirs)
    skewed = np.diag([1.0, 1.3, 1.0, 1.0])
    with pytest.raises(BadSourceFile, match="not a rotation times a uniform scale"):
        rotation_of(skewed, tmp_path)


def test_dad3dheads_attributes_select_subsets(synth_dad3dheads, prepared_dad3dheads, tmp_path):
    data = HPFile(prepared_dad3dheads)
    split, pose = data.meta("split").astype(str), data.meta("pose").astype(str)
    assert set(pose[split == "val"]) == {""} and set(pose[split == "train"]) <= {"front", "sided", "atypical"}
    text = tmp_path / "p.yaml"
    text.write_text("name: mine\nversion: 1\ntask: headpose\ncrop: kd\nmetrics: [geodesic]\nsplits:\n  test:\n"
                    "    - {dataset: dad3dheads, select: {rule: meta_in, where: {pose: [atypical]}}, boxes: dataset}\n")
    (selection,) = select(load_protocol(text), "test", prepared_dad3dheads.parent)
    assert selection.indices.tolist() == np.flatnonzero(pose == "atypical").tolist()
    wide = np.abs(data.ypr[selection.indices, 0])
    assert len(wide) and np.all(wide >= 90 - 1e-3)  # the writer calls a head turned 90° or more atypical


def test_opal23_panoptic_list_goes_to_the_face_its_box_overlaps(prepared_panoptic, tmp_path):
    """opal23's panoptic_ann lines name images, not people: each goes to the face of its image whose
    sphere box it overlaps most; its yaw is hpbench's negated (the matrix adapter holds all round)."""
    from hpbench.bboxes.peerfiles import import_peer_file

    path = tmp_path / "panoptic.h5"
    shutil.copy(prepared_panoptic, path)
    data = HPFile(path)
    boxes, ypr = data.box("sphere"), data.ypr.astype(np.float64)
    lines = ["#;image;x_min;y_min;w;h;yaw;pitch;roll"]
    for key, (x1, y1, x2, y2), (yaw, pitch, roll) in zip(data.keys, boxes, ypr.tolist()):
        image = str(key).partition("#")[0]
        lines.append(f"{image};{x1 + 2:g};{y1 + 1:g};{x2 - x1:g};{y2 - y1:g};{-yaw!r};{pitch!r};{roll!r}")
    lines.append(f"{str(data.keys[0]).partition('#')[0]};0;0;3;3;0;0;0")  # a head no face of the image is near
    (tmp_path / "panoptic_ann_test.txt").write_text("\n".join(lines) + "\n")
    report = import_peer_file(path, tmp_path / "panoptic_ann_test.txt", "opal23", "opal23", with_labels=True)
    assert report.matched == len(data) and len(report.entries_without_sample) == 1
    data = HPFile(path)
    np.testing.assert_allclose(data.box("opal23"), boxes + [2, 1, 2, 1])
    np.testing.assert_allclose(data.pose("opal23"), ypr, atol=1e-12)
    # opal23's matrix R_o = Rx(pitch)·Ry(yaw)·Rz(roll) of its triple, turned into hpbench's frame, is
    # hpbench's R of the triple with yaw negated, for every head of the circle
    def axis(i, degrees):
        return cv2.Rodrigues(np.radians(degrees) * np.eye(3)[i])[0]

    flip = np.diag([1.0, -1, 1])
    for yaw, pitch, roll in ypr * [-1, 1, 1]:
        r_o = axis(0, pitch) @ axis(1, yaw) @ axis(2, roll)
        np.testing.assert_allclose(flip @ r_o.T @ flip, rotation_from_ypr([-yaw, pitch, roll]), atol=1e-9)
