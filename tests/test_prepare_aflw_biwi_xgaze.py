"""AFLW (sqlite), BIWI and ETH-XGaze: synth → raw → prepare round trips, quirks and bad input."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter

import h5py
import numpy as np
import pytest

from hpbench.converters.biwi import decode_depth
from hpbench.converters.prepare import prepare
from hpbench.converters.verify import verify_file
from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.synth.writers.biwi import _depth_frame, encode_depth
from tests.conftest import prepared, run_cli

# ------------------------------------------------------------------ AFLW


@pytest.fixture(scope="module")
def aflw_file(prepared_aflw):
    return prepared_aflw


def test_aflw_round_trip(synth_aflw, aflw_file):
    """Labels and exclusions: tests/test_contracts.py; here, that the sample carries the exclusions."""
    _, records = synth_aflw
    assert {"no FacePose row", "image listed but absent on disk"} <= {r.excluded for r in records}


def test_aflw_quirks_are_present_and_counted(synth_aflw, aflw_file):
    data = HPFile(aflw_file)
    report = json.loads(aflw_file.with_suffix(".prepare.json").read_text())
    extensions = Counter(data.meta("extension"))
    assert extensions["png"] > 0 and extensions["jpg"] > 0
    images = Counter(key.split("#")[0] for key in data.keys)
    assert report["notes"]["of which with several faces"] == sum(c > 1 for c in images.values()) > 0
    assert report["notes"]["of which .png"] == len({k for k in images if k.endswith(".png")})
    # the sqlite roll is the negative of the canonical one
    with sqlite3.connect(synth_aflw[0] / "aflw.sqlite") as db:
        face_id = int(data.meta("face_id")[0])
        (roll,) = db.execute("SELECT roll FROM FacePose WHERE face_id = ?", (face_id,)).fetchone()
    assert data.ypr[0, 2] == pytest.approx(-np.degrees(roll), abs=1e-4)
    assert np.isnan(data.landmarks).any()  # points AFLW did not mark stay NaN


def test_aflw_sqlite_without_the_tables(tmp_path, capsys):
    with sqlite3.connect(tmp_path / "aflw.sqlite") as db:
        db.execute("CREATE TABLE Faces(face_id INTEGER, file_id TEXT, db_id TEXT)")
    code, _, err = run_cli(capsys, "prepare", "aflw", "--src", tmp_path, "--out", tmp_path / "data")
    assert code == 1 and "aflw.sqlite: missing table(s) FaceImages, FacePose, FaceRect, FeatureCoords" in err
    (tmp_path / "aflw.sqlite").write_bytes(b"garbage" * 100)
    code, _, err = run_cli(capsys, "prepare", "aflw", "--src", tmp_path, "--out", tmp_path / "data")
    assert code == 1 and "aflw.sqlite: not a readable SQLite database" in err
    assert not (tmp_path / "data").exists()


# ------------------------------------------------------------------ BIWI


@pytest.fixture(scope="module")
def biwi_file(synth_biwi, tmp_path_factory):
    return prepared(tmp_path_factory, "biwi", synth_biwi[0], with_depth=True)


def test_biwi_round_trip(synth_biwi, biwi_file):
    raw, records = synth_biwi
    data = HPFile(biwi_file)  # labels: tests/test_contracts.py
    assert len(set(data.meta("sequence"))) == 24 and len(set(data.meta("person"))) == 20
    frames = data.meta("frame")[data.meta("sequence") == 1]
    assert np.any(np.diff(frames) > 1)  # non-contiguous frame numbers
    for i, key in enumerate(data.keys[:3]):
        depth = decode_depth(raw / key.replace("_rgb.png", "_depth.bin"))
        np.testing.assert_array_equal(data.depth(i), depth.astype(np.uint16))
    statuses = {c.name: c.status for c in verify_file(biwi_file).checks}
    assert statuses["sequences vs published"] == "ok" and statuses["people vs published"] == "ok"
    assert statuses["samples vs published"] == "warn"


def test_biwi_repeated_people_share_a_head(synth_biwi):
    raw, records = synth_biwi
    person = {r.meta["sequence"]: r.meta["person"] for r in records}
    assert person[15] == person[3] and person[18] == person[5] and person[21] == person[2] and person[22] == person[7]
    assert (raw / "15.obj").read_text() == (raw / "03.obj").read_text() != (raw / "04.obj").read_text()


def test_depth_run_length_round_trip(tmp_path):
    from hpbench.synth.head import HeadModel

    depth = _depth_frame(HeadModel.random(np.random.default_rng(0)), np.array([20.0, -10, 5]), np.array([10, -20, 900.0]))
    assert (depth > 0).sum() > 1000
    path = tmp_path / "frame_00001_depth.bin"
    path.write_bytes(encode_depth(depth))
    np.testing.assert_array_equal(decode_depth(path), depth)


def _copy_sequence(raw, tmp_path, sequence="01"):
    target = tmp_path / "hpdb"
    shutil.copytree(raw / sequence, target / sequence)
    return target


def test_biwi_non_rotation_pose_is_a_clear_error(synth_biwi, tmp_path, capsys):
    src = _copy_sequence(synth_biwi[0], tmp_path)
    pose = sorted((src / "01").glob("*_pose.txt"))[1]
    lines = pose.read_text().splitlines()
    lines[0] = "1.5 0 0"
    pose.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(capsys, "prepare", "biwi", "--src", src, "--out", tmp_path / "data")
    assert code == 1 and pose.name in err and "does not hold a rotation matrix" in err
    code, out, _ = run_cli(capsys, "prepare", "biwi", "--src", src, "--out", tmp_path / "data", "--skip-bad")
    assert code == 0 and "wrote 2 samples" in out and pose.name in out


def test_biwi_missing_calibration_is_a_clear_error(synth_biwi, tmp_path, capsys):
    src = _copy_sequence(synth_biwi[0], tmp_path)
    (src / "01" / "rgb.cal").unlink()
    code, _, err = run_cli(capsys, "prepare", "biwi", "--src", src, "--out", tmp_path / "data")
    assert code == 1 and "rgb.cal: is missing" in err
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").iterdir())


def test_biwi_truncated_depth_is_a_clear_error(synth_biwi, tmp_path, capsys):
    src = _copy_sequence(synth_biwi[0], tmp_path)
    depth = sorted((src / "01").glob("*_depth.bin"))[0]
    depth.write_bytes(depth.read_bytes()[:-100])
    code, _, err = run_cli(capsys, "prepare", "biwi", "--src", src, "--out", tmp_path / "data", "--with-depth")
    assert code == 1 and depth.name in err and "does not fit" in err


def test_with_depth_is_only_for_biwi(synth_aflw2000, tmp_path, capsys):
    with pytest.raises(HpbenchError, match="aflw2000 takes no option with_depth"):
        prepare("aflw2000", synth_aflw2000[0], tmp_path, progress=False, with_depth=True)
    with pytest.raises(SystemExit) as exit_code:  # the command offers the flag to biwi only
        run_cli(capsys, "prepare", "aflw2000", "--src", synth_aflw2000[0], "--out", tmp_path, "--with-depth")
    assert exit_code.value.code == 2 and "unrecognized arguments: --with-depth" in capsys.readouterr().err


# ------------------------------------------------------------------ ETH-XGaze


def test_xgaze_round_trip(synth_xgaze, prepared_xgaze):
    raw, records = synth_xgaze
    data = HPFile(prepared_xgaze)  # labels: tests/test_contracts.py
    assert np.isnan(data.ypr[:, 2]).all() and not np.isnan(data.ypr[:, :2]).any()
    assert set(data.meta("native_split")) == {"train", "test"}
    with h5py.File(raw / "train" / "subject0000.h5", "r") as handle:
        assert "face_gaze" in handle
        first = list(data.keys).index("train/subject0000.h5#000000")
        np.testing.assert_array_equal(data.image(first), handle["face_patch"][0])  # lossless
    with h5py.File(raw / "test" / "subject0001.h5", "r") as handle:
        assert "face_gaze" not in handle  # test files lack it, and convert all the same


def test_xgaze_file_without_face_patch(synth_xgaze, tmp_path, capsys):
    src = tmp_path / "xgaze"
    shutil.copytree(synth_xgaze[0], src)
    broken = src / "train" / "subject0002.h5"
    with h5py.File(broken, "r+") as handle:
        del handle["face_patch"]
    code, _, err = run_cli(capsys, "prepare", "xgaze", "--src", src, "--out", tmp_path / "data")
    assert code == 1 and "subject0002.h5: has no face_patch dataset" in err
    code, out, _ = run_cli(capsys, "prepare", "xgaze", "--src", src, "--out", tmp_path / "data", "--skip-bad")
    assert code == 0 and "wrote 80 samples" in out


# ------------------------------------------------------------------ cross-checks with the peers' formulas


def _hopenet_biwi(r_file: np.ndarray) -> tuple[float, float, float]:
    """HopeNet / FSA-Net's BIWI reading, written out with scalar math."""
    import math

    r = r_file.T
    roll = -math.atan2(r[1][0], r[0][0]) * 180 / math.pi
    yaw = -math.atan2(-r[2][0], math.sqrt(r[2][1] ** 2 + r[2][2] ** 2)) * 180 / math.pi
    pitch = math.atan2(r[2][1], r[2][2]) * 180 / math.pi
    return yaw, pitch, roll


def test_biwi_angles_equal_hopenets_formula_and_kd_equals_scipy():
    from scipy.spatial.transform import Rotation

    from hpbench.pose import get_convention

    matrices = Rotation.random(400, random_state=7).as_matrix()
    ours = get_convention("biwi").to_canonical(matrices)
    np.testing.assert_allclose(ours, [_hopenet_biwi(m) for m in matrices], atol=1e-9)
    kd = get_convention("kd").from_canonical(ours)
    np.testing.assert_allclose(kd, Rotation.from_matrix(matrices).as_euler("XYZ", degrees=True), atol=1e-9)


# ------------------------------------------------------------------ real files


def test_real_biwi_frame(real_samples, tmp_path, capsys):
    src = real_samples / "biwi" / "hpdb"
    code, _, err = run_cli(capsys, "prepare", "biwi", "--src", src, "--out", tmp_path, "--with-depth")
    assert code == 0, err
    data = HPFile(tmp_path / "biwi.h5")
    assert list(data.keys) == ["01/frame_00003_rgb.png"]
    rotation = np.loadtxt(src / "01" / "frame_00003_pose.txt", max_rows=3)
    np.testing.assert_allclose(data.ypr[0], _hopenet_biwi(rotation), atol=1e-4)
    x, y = data.meta("head_center_x")[0], data.meta("head_center_y")[0]
    assert 300 < x < 385 and 200 < y < 320  # on the face (hand-read from the image: x 295–390, y 195–325)
    x1, y1, x2, y2 = data.box("projected")[0]
    assert x1 < x < x2 and y1 < y < y2 and 80 < x2 - x1 < 140
    depth = data.depth(0)
    assert depth.shape == (480, 640) and int((depth > 0).sum()) == 56_336
    assert depth[depth > 0].min() == 782 and depth.max() == 997
    assert data.meta("sequence")[0] == 1 and data.meta("frame")[0] == 3


def test_real_xgaze_split_file(real_samples):
    from hpbench.converters.xgaze import read_split

    split = read_split(real_samples / "eth_xgaze" / "train_test_split.json")
    assert Counter(split.values()) == {"train": 78, "val": 2, "test": 15, "test_specific": 15}


def test_verify_states_both_biwi_frame_counts(real_samples, tmp_path, capsys):
    """The real first frame of sequence 01 is in the release but not in KD's box file, whose first key
    is 01/frame_00004_rgb.png (kd_oe_hpe data/BIWI.json): 15,678 frames, 15,677 with a KD box."""
    run_cli(capsys, "prepare", "biwi", "--src", real_samples / "biwi" / "hpdb", "--out", tmp_path)
    (check,) = [c for c in verify_file(tmp_path / "biwi.h5").checks if c.name == "samples vs published"]
    assert "15,678 published" in check.message and "15,677" in check.message and "01/frame_00003" in check.message
