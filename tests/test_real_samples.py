"""Real dataset files in their original formats (read in place from $HPBENCH_REAL_SAMPLES)."""

from __future__ import annotations

import numpy as np
import scipy.io

from hpbench.converters.verify import verify_file
from hpbench.format import HPFile
from hpbench.pose import rotation_from_ypr
from tests.conftest import run_cli

AFLW2000_NAMES = ["image00050", "image00251", "image00475", "image00514", "image00516", "image01322",
                  "image02420", "image02616"]


def test_real_aflw2000_converts_exactly(real_samples, tmp_path, capsys):
    src = real_samples / "aflw2000_3d"
    code, out, err = run_cli(capsys, "prepare", "aflw2000", "--src", src, "--out", tmp_path)
    assert code == 0, err
    data = HPFile(tmp_path / "aflw2000.h5")
    assert list(data.keys) == [f"{name}.jpg" for name in AFLW2000_NAMES]
    for i, name in enumerate(AFLW2000_NAMES):
        mat = scipy.io.loadmat(src / f"{name}.mat")
        pitch, yaw, roll = np.degrees(mat["Pose_Para"][0, :3].astype(np.float64))
        np.testing.assert_allclose(data.ypr[i], [yaw, pitch, roll], atol=1e-4)
        pt2d = mat["pt2d"].T
        missing = (pt2d < 0).any(axis=1)
        assert np.isnan(data.landmarks[i][missing]).all()
        np.testing.assert_allclose(data.landmarks[i][~missing], pt2d[~missing], atol=1e-4)
        valid = pt2d[~missing]
        np.testing.assert_allclose(data.box("landmarks")[i], [*valid.min(0), *valid.max(0)], atol=1e-4)
        assert data.box("landmarks")[i][3] < 450  # the −1 points (stored with y = 452) stay out
        assert data.encoded_image(i) == (src / f"{name}.jpg").read_bytes()
    assert int(np.isnan(data.landmarks[:, :, 0]).sum()) == 44  # 44 unannotated points in these 8 files
    assert verify_file(tmp_path / "aflw2000.h5").ok


def test_real_300w_lp_pair_converts(real_samples, tmp_path, capsys):
    raw = tmp_path / "300W_LP" / "IBUG"
    raw.mkdir(parents=True)
    for suffix in (".jpg", ".mat"):  # symlinks: the real files stay where they are
        (raw / f"IBUG_image_008_1_0{suffix}").symlink_to(real_samples / "300w_lp" / f"IBUG_image_008_1_0{suffix}")
    code, _, err = run_cli(capsys, "prepare", "300w_lp", "--src", tmp_path / "300W_LP", "--out", tmp_path / "data")
    assert code == 0, err
    data = HPFile(tmp_path / "data" / "300w_lp.h5")
    mat = scipy.io.loadmat(raw / "IBUG_image_008_1_0.mat")
    pitch, yaw, roll = np.degrees(mat["Pose_Para"][0, :3].astype(np.float64))
    np.testing.assert_allclose(data.ypr[0], [yaw, pitch, roll], atol=1e-4)
    np.testing.assert_allclose(data.landmarks[0], mat["pt2d"].T, atol=1e-4)
    assert data.meta("identity")[0] == "IBUG_image_008_1"
    assert data.meta("view_index")[0] == 0 and data.meta("source_folder")[0] == "IBUG"
    assert tuple(data.image_sizes[0]) == (450, 450)


def test_pose_convention_explains_real_3d_landmarks(real_samples):
    """Undoing each file's pose with the canonical convention (camera point = s·Rᵀ·p + t) brings the
    68 3-D landmarks of 8 very different poses to one head-frame shape; the transposed reading does not."""
    spreads = {}
    for name, transpose in (("canonical", True), ("transposed", False)):
        shapes = []
        for stem in AFLW2000_NAMES:
            mat = scipy.io.loadmat(real_samples / "aflw2000_3d" / f"{stem}.mat")
            para = mat["Pose_Para"][0].astype(np.float64)
            points = mat["pt3d_68"].astype(np.float64) * [[1], [-1], [1]]  # image y down → y up
            points = (points - points.mean(axis=1, keepdims=True)) / para[6]
            rotation = rotation_from_ypr(np.degrees([para[1], para[0], para[2]]))
            camera_from_head = rotation.T if transpose else rotation
            shapes.append(camera_from_head.T @ points)
        shapes = np.array(shapes)
        spreads[name] = np.abs(shapes - shapes.mean(axis=0)).mean() / np.abs(shapes).mean()
    assert spreads["canonical"] < 0.1
    assert spreads["transposed"] > 5 * spreads["canonical"]
