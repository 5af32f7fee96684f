"""Real dataset files in their original formats (read in place from $HPBENCH_REAL_SAMPLES)."""

from __future__ import annotations

from dataclasses import replace

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


def _hopenet_aflw2000_crop(mat_path):
    """HopeNet's (and 6DRepNet's) AFLW2000 test crop, written again from deep-head-pose code/datasets.py,
    AFLW2000.__getitem__: min / max over *all* pt2d points (the −1 markers included), k = 0.2."""
    pt2d = scipy.io.loadmat(mat_path)["pt2d"]
    x_min, y_min, x_max, y_max = min(pt2d[0, :]), min(pt2d[1, :]), max(pt2d[0, :]), max(pt2d[1, :])
    k = 0.20
    x_min -= 2 * k * abs(x_max - x_min)
    y_min -= 2 * k * abs(y_max - y_min)
    x_max += 2 * k * abs(x_max - x_min)
    y_max += 0.6 * k * abs(y_max - y_min)
    return int(x_min), int(y_min), int(x_max), int(y_max)


def test_hopenets_crop_of_the_real_aflw2000_files(real_samples, tmp_path, capsys):
    from hpbench.data.crops import hopenet_aflw2000_region

    src = real_samples / "aflw2000_3d"
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", src, "--out", tmp_path)
    assert code == 0, err
    data = HPFile(tmp_path / "aflw2000.h5")
    widened = 0
    for i, name in enumerate(AFLW2000_NAMES):
        hw = tuple(data.image_sizes[i])
        peer = _hopenet_aflw2000_crop(src / f"{name}.mat")
        assert hopenet_aflw2000_region(data.box("pt2d")[i], hw) == peer, name
        widened += hopenet_aflw2000_region(data.box("landmarks")[i], hw) != peer
    assert widened == 6  # the files with unannotated points: there the cleaned box crops another region
    index = AFLW2000_NAMES.index("image02420")
    assert hopenet_aflw2000_region(data.box("pt2d")[index], (450, 450)) == (-136, 111, 528, 492)
    assert hopenet_aflw2000_region(data.box("landmarks")[index], (450, 450)) == (134, 149, 419, 383)


def test_hopenets_preprocessing_equals_torchvisions_on_the_real_aflw2000_files(real_samples, tmp_path, capsys):
    """deep-head-pose code/test_hopenet.py: PIL crop of the AFLW2000 region, transforms.Scale(224) (PIL
    bilinear, antialiased), CenterCrop(224), ToTensor, Normalize — run here with torchvision on the
    same decoded pixels, against hpbench's HopeNet preprocessing (kernel pil-bilinear)."""
    import torch
    from PIL import Image
    from torchvision import transforms

    from hpbench.data.headpose import HeadPoseDataset
    from hpbench.models import create_model

    src = real_samples / "aflw2000_3d"
    run_cli(capsys, "prepare", "aflw2000", "--src", src, "--out", tmp_path)
    data = HPFile(tmp_path / "aflw2000.h5")
    preprocessing = create_model("hopenet.resnet50").preprocessing
    assert preprocessing.resize_kernel == "pil-bilinear"
    ours = HeadPoseDataset(data, range(len(data)), data.box("pt2d"), "hopenet-aflw2000", preprocessing)
    cv2_kernel = HeadPoseDataset(data, range(len(data)), data.box("pt2d"), "hopenet-aflw2000",
                                 replace(preprocessing, resize_kernel="opencv-linear"))
    torchvision_pipeline = transforms.Compose([
        transforms.Resize(224, interpolation=transforms.InterpolationMode.BILINEAR), transforms.CenterCrop(224),
        transforms.ToTensor(), transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    worst_cv2 = 0.0
    for i, name in enumerate(AFLW2000_NAMES):
        rgb = Image.fromarray(np.ascontiguousarray(data.image(i)[..., ::-1]))
        peer = torchvision_pipeline(rgb.crop(_hopenet_aflw2000_crop(src / f"{name}.mat")))
        torch.testing.assert_close(preprocessing.normalise(ours[i]["image"]), peer, atol=1e-5, rtol=0)
        worst_cv2 = max(worst_cv2, float((preprocessing.normalise(cv2_kernel[i]["image"]) - peer).abs().max()))
    assert worst_cv2 > 0.1  # OpenCV's kernel is not HopeNet's


def test_sixdrepnets_preprocessing_equals_torchvisions_on_the_real_aflw2000_files(real_samples, tmp_path, capsys):
    """thohemp/6DRepNet sixdrepnet/test.py: HopeNet's AFLW2000 region (its datasets.py AFLW2000, k = 0.2),
    then transforms.Resize(256), CenterCrop(224), ToTensor, Normalize — against the crop rule
    sixdrepnet-aflw2000 with the family's PIL kernel."""
    import torch
    from PIL import Image
    from torchvision import transforms

    from hpbench.data.headpose import HeadPoseDataset
    from hpbench.models import create_model

    src = real_samples / "aflw2000_3d"
    run_cli(capsys, "prepare", "aflw2000", "--src", src, "--out", tmp_path)
    data = HPFile(tmp_path / "aflw2000.h5")
    preprocessing = create_model("sixdrepnet.repvgg_a0").preprocessing
    ours = HeadPoseDataset(data, range(len(data)), data.box("pt2d"), "sixdrepnet-aflw2000", preprocessing)
    pipeline = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                   transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    for i, name in enumerate(AFLW2000_NAMES):
        rgb = Image.fromarray(np.ascontiguousarray(data.image(i)[..., ::-1]))
        peer = pipeline(rgb.crop(_hopenet_aflw2000_crop(src / f"{name}.mat")))
        torch.testing.assert_close(preprocessing.normalise(ours[i]["image"]), peer, atol=1e-5, rtol=0)


def test_real_aflw2000_keys_are_in_the_frozen_release_list(real_samples, tmp_path, capsys):
    """The converter's keys have the form of the frozen list (bare image names), so a whole release
    prepared by hpbench hashes to p1-unfiltered's frozen sha256."""
    from tests.test_protocols import frozen_list
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", real_samples / "aflw2000_3d", "--out", tmp_path)
    assert code == 0, err
    assert set(HPFile(tmp_path / "aflw2000.h5").keys) <= set(frozen_list("aflw2000-all"))
