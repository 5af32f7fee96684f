"""LSP, LSPET and MPII: synth → raw → prepare round trips, the MPII quirks, and the real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from hpbench.converters.bodies import person_from_joints
from hpbench.format import HPFile
from hpbench.synth.body import render_people
from hpbench.synth.writers.ddfa import write_jpeg
from tests.conftest import run_cli


@pytest.mark.parametrize("dataset", ["lsp", "lspet"])
def test_lsp_round_trip_with_one_visibility_meaning(dataset, request):
    raw, records = request.getfixturevalue(f"synth_{dataset}")
    data = HPFile(request.getfixturevalue(f"prepared_{dataset}"))  # labels: tests/test_contracts.py
    expected = {r.key: r for r in records if not r.excluded}
    for i, key in enumerate(data.keys):
        centre, scale = person_from_joints(expected[key].joints, expected[key].visible)
        np.testing.assert_allclose(data.person_center[i], centre, atol=1e-4)
        assert data.person_scale[i] == pytest.approx(scale, abs=1e-5)
    table = scipy.io.loadmat(raw / "joints.mat")["joints"]
    flags = table[2].T if dataset == "lsp" else table[:, 2].T  # (N, 14)
    stored = data.joints_visible.astype(float)
    np.testing.assert_array_equal(stored, 1 - flags if dataset == "lsp" else flags)
    assert 0 < stored.mean() < 1
    if dataset == "lspet":  # a hidden joint is written as the release's placeholder (0, −v) / (−v, 0), stored NaN
        hidden = flags == 0
        written = table[:, :2].transpose(2, 0, 1)[hidden]
        assert ((written == 0).any(axis=1) & (written <= 0).all(axis=1)).all()
        assert np.isnan(data.joints[hidden]).all() and np.isfinite(data.joints[~hidden]).all()


def test_centre_and_scale_rule_hand_worked():
    joints = np.array([[10, 20], [30, 100], [50, 60], [500, 500]], float)
    visible = np.array([True, True, True, False])
    centre, scale = person_from_joints(joints, visible)
    np.testing.assert_array_equal(centre, [30, 60])
    assert scale == pytest.approx(1.25 * 80 / 200)


def test_mpii_round_trip(synth_mpii, prepared_mpii):
    raw, records = synth_mpii
    path = prepared_mpii
    data = HPFile(path)  # labels: tests/test_contracts.py
    expected = {r.key: r for r in records if not r.excluded}
    for i, key in enumerate(data.keys):
        record = expected[key]
        np.testing.assert_allclose(data.box("head")[i], record.boxes["head"], atol=1e-4, equal_nan=True)
        np.testing.assert_allclose(data.person_center[i], record.center, atol=1e-4)
        assert data.person_scale[i] == pytest.approx(record.scale, abs=1e-5)
    test = data.meta("native_split") == "test"
    assert test.any() and (data.meta("has_joints")[test] == 0).all() and np.isnan(data.joints[test]).all()
    assert np.isnan(data.box("head")[test]).all() and not np.isnan(data.box("head")[~test]).any()
    report = json.loads(path.with_suffix(".prepare.json").read_text())
    reasons = sorted(e["why"] for e in report["excluded"])
    assert reasons == sorted(r.excluded for r in records if r.excluded)
    assert "person without objpos and scale" in reasons and "image listed but absent on disk" in reasons
    assert (data.meta("single_person") == 1).any() and (data.meta("single_person") == 0).any()
    assert (data.meta("act_id") == -1).any() and set(data.meta("activity")) - {""}


def test_mpii_quirks_are_in_the_synthetic_file(synth_mpii):
    """The writer really produces what the converter must survive: scalar collapses, mixed flags."""
    release = scipy.io.loadmat(synth_mpii[0] / "mpii_human_pose_v1_u12_1.mat", struct_as_record=False,
                               squeeze_me=True)["RELEASE"]
    annolist = release.annolist
    assert not isinstance(annolist[0].annorect, np.ndarray)  # one person: a scalar struct
    assert not isinstance(annolist[4].annorect.annopoints.point, np.ndarray)  # one point: a scalar struct
    flags = [type(p.is_visible).__name__ for e in annolist for r in np.atleast_1d(e.annorect)
             if "annopoints" in r._fieldnames and not isinstance(r.annopoints, np.ndarray)
             for p in np.atleast_1d(r.annopoints.point)]
    assert {"int", "str", "ndarray"} <= set(flags)
    test_rect = np.atleast_1d(annolist[3].annorect)[0]
    assert set(test_rect._fieldnames) == {"scale", "objpos"}


def test_mpii_hrnet_json(synth_mpii, tmp_path, capsys):
    raw, records = synth_mpii
    annotations = raw / "annot" / "train.json"
    code, out, err = run_cli(capsys, "prepare", "mpii", "--src", raw, "--annotations", annotations,
                             "--out", tmp_path)
    assert code == 0, err
    data = HPFile(tmp_path / "mpii.h5")
    entries = json.loads(annotations.read_text())
    present = [e for e in entries if (raw / "images" / e["image"]).is_file()]
    assert len(data) == len(present)
    by_image = {}
    for entry in present:
        by_image.setdefault(entry["image"], []).append(entry)
    for i, key in enumerate(data.keys):
        image, rank = key.split("#")
        entry = by_image[image][int(rank) - 1]
        vis = np.array(entry["joints_vis"], bool)
        np.testing.assert_allclose(data.joints[i][vis], np.array(entry["joints"])[vis], atol=1e-4)
        assert np.isnan(data.joints[i][~vis]).all()
        np.testing.assert_allclose(data.person_center[i], entry["center"], atol=1e-4)
    assert set(data.meta("native_split")) == {"train"}


def test_lsp_converter_on_lspet_joints_says_which_to_use(synth_lspet, tmp_path, capsys):
    code, _, err = run_cli(capsys, "prepare", "lsp", "--src", synth_lspet[0], "--out", tmp_path)
    assert code == 1 and "joints.mat: 'joints' has shape (14, 3, 30)" in err and "use hpbench prepare lspet" in err


def _images_for(folder, names, size=(120, 90)):
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in names:
        image, _ = render_people(rng, size[0], size[1])
        write_jpeg(folder / "images" / name, image)


def test_real_lsp_joints(real_samples, tmp_path, capsys):
    """The real joints.mat (3×14×2000, 1 = occluded) with 10 stand-in images beside it."""
    src = tmp_path / "lsp"
    src.mkdir()
    (src / "joints.mat").symlink_to(real_samples / "lsp" / "joints.mat")
    _images_for(src, [f"im{i:04d}.jpg" for i in range(1, 11)], size=(520, 520))  # the joints reach x, y ≈ 1020
    code, out, err = run_cli(capsys, "prepare", "lsp", "--src", src, "--out", tmp_path / "data")
    assert code == 0, err
    assert "wrote 10 samples" in out and "image listed in joints.mat but absent on disk: 1,990" in out
    data = HPFile(tmp_path / "data" / "lsp.h5")
    raw = scipy.io.loadmat(real_samples / "lsp" / "joints.mat")["joints"]
    assert raw.shape == (3, 14, 2000) and 0.05 < raw[2].mean() < 0.1  # 1 = occluded, rare
    np.testing.assert_allclose(data.joints, raw[:2, :, :10].transpose(2, 1, 0), atol=1e-4)
    np.testing.assert_array_equal(data.joints_visible, raw[2, :, :10].T == 0)


def test_real_lspet(real_samples, tmp_path, capsys):
    src = real_samples / "lspet"
    code, out, err = run_cli(capsys, "prepare", "lspet", "--src", src, "--out", tmp_path)
    assert code == 0, err
    assert "wrote 5 samples" in out and "absent on disk: 9,995" in out
    assert json.loads((tmp_path / "lspet.prepare.json").read_text())["notes"][
        "hidden joints, not annotated (stored as NaN)"] == 16787
    data = HPFile(tmp_path / "lspet.h5")
    raw = scipy.io.loadmat(src / "joints.mat")["joints"]
    assert raw.shape == (14, 3, 10000) and raw[:, 0].min() < 0 and raw[:, 2].mean() > 0.8  # 1 = visible
    visible = raw[:, 2, :5].T == 1
    np.testing.assert_array_equal(data.joints_visible, visible)
    np.testing.assert_allclose(data.joints[visible], raw[:, :2, :5].transpose(2, 0, 1)[visible], atol=1e-4)
    assert np.isnan(data.joints[~visible]).all()
    # every flag-0 joint of the release is a placeholder: one coordinate 0, the other negative
    hidden = raw[:, 2] == 0
    placeholders = raw[:, :2].transpose(0, 2, 1)[hidden]
    assert len(placeholders) == 16787 and ((placeholders == 0).any(axis=1) & (placeholders <= 0).all(axis=1)).all()
    assert tuple(data.image_sizes[0]) == (105, 157)


def test_real_mpii_json(real_samples, tmp_path, capsys):
    src = real_samples / "mpii"
    code, out, err = run_cli(capsys, "prepare", "mpii", "--src", src, "--annotations", src / "test_mpii.json",
                             "--out", tmp_path)
    assert code == 0, err
    data = HPFile(tmp_path / "mpii.h5")
    entries = json.loads((src / "test_mpii.json").read_text())
    assert len(data) == 5
    first = list(data.keys).index(f"{entries[0]['image']}#1")
    np.testing.assert_allclose(data.joints[first], entries[0]["joints"], atol=1e-4)
    assert data.person_scale[first] == pytest.approx(entries[0]["scale"], abs=1e-5)
    assert np.isnan(data.box("head")).all()  # the JSON carries no head boxes
