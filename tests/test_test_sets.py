"""The test sets papers report on: frozen key lists, BIWI's Kaggle layout, headposeplus' and opal23's
box and label files, and protocols that take another label source."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io

from hpbench.converters.verify import verify_file
from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.protocols import Protocol, SplitEntry, key_list, keys_sha256, load_protocol, select
from tests.conftest import prepared, run_cli

# (count, sha256 of the sorted keys joined by newlines) of every bundled list
LISTS = {
    "aflw2000-all": (2000, "aa121e0e0dde71f46c16f3381a8760d1019e718b4f7de3e8e51c795ec56794e3"),
    "aflw2000-99": (1969, "dca024e390ad3a66b5c31cd8b97abd34724e90602f8e7ecc15e7e42a3f1db136"),
    "aflw2000-90": (1964, "7ad28bfe9089aa90981e86a39948f9089fcb34a0266e9cf52042c10e7476e034"),
    "biwi-all": (15678, "ac65a3a9383c4cd7ce008667fb56d013f91743fdaa681f633f5be9ab984d4415"),
    "biwi-fsa": (13219, "f730a67a9cbe9fb79143f85012dc39f809599fa1526e8bd2e2183a7e5bb31c2f"),
    "biwi-p3-test": (5065, "7e29f1de32767479af826aa390e12f2100d881d0473bea86f8c5ec573dd7554d"),
    "biwi-by-person-test": (6107, "3c3a5352be94cf722ea2db179d6104f73475ac66a22d2ba31e3bc22ef2a66855"),
}
# BIWI 01/frame_00003_rgb.png as the peers publish it: FSA-Net's angles (img2pose's and opal23's lists,
# headposeplus data/Biwi_FSA-Net.npz 'ypr'[0]) and Biwi+'s RGB-calibrated ones (data/Biwi_plus.npz 'ypr'[0])
FRAME_3_YPR = [3.290994605902283, 7.607222981354766, -1.5666319048416875]
FRAME_3_BIWIPLUS_YPR = [3.851610712586961, 8.459462667895764, -1.7420774135218653]


@pytest.mark.parametrize("name", sorted(LISTS))
def test_each_bundled_list_has_its_count_and_hash(name):
    keys = key_list(name)
    assert (len(keys), len(set(keys)), keys_sha256(keys)) == (LISTS[name][0], LISTS[name][0], LISTS[name][1])


def test_the_lists_nest_and_the_protocols_freeze_them():
    assert set(key_list("aflw2000-90")) < set(key_list("aflw2000-99")) < set(key_list("aflw2000-all"))
    assert set(key_list("biwi-fsa")) < set(key_list("biwi-all"))
    sequences = lambda names: {k for k in key_list("biwi-all") if k[:2] in names}  # noqa: E731
    assert set(key_list("biwi-p3-test")) == sequences({"06", "07", "10", "13", "15", "18", "21", "22"})
    assert set(key_list("biwi-by-person-test")) == sequences({"03", "05", "06", "07", "10", "13", "15", "18", "22"})
    frozen = {("p1", "aflw2000"): "aflw2000-99", ("p1", "biwi"): "biwi-all", ("biwi-fsa", "biwi"): "biwi-fsa",
              ("aflw2000-90", "aflw2000"): "aflw2000-90", ("biwiplus", "biwi"): "biwi-all",
              ("p1-unfiltered", "aflw2000"): "aflw2000-all", ("p3", "biwi"): "biwi-p3-test",
              ("biwi-by-person", "biwi"): "biwi-by-person-test"}
    for (protocol, dataset), name in frozen.items():
        assert load_protocol(protocol).frozen_keys_sha256[dataset] == LISTS[name][1], (protocol, dataset)


def test_an_unknown_list_is_refused_when_the_protocol_loads(tmp_path):
    text = (tmp_path / "p.yaml")
    text.write_text("name: mine\nversion: 1\ntask: headpose\ncrop: kd\nmetrics: [mae]\nsplits:\n  test:\n"
                    "    - {dataset: biwi, select: {rule: key_list, name: biwi-nope}}\n")
    with pytest.raises(HpbenchError, match="no bundled key list 'biwi-nope'.*biwi-fsa"):
        load_protocol(text)


def test_the_aflw2000_lists_agree_with_the_real_files(real_samples):
    """The lists were derived from opal23's published angles; the real .mat files say the same."""
    for mat in sorted((real_samples / "aflw2000_3d").glob("*.mat")):
        pitch, yaw, roll = np.degrees(scipy.io.loadmat(mat)["Pose_Para"][0][:3])
        wrapped = (np.array([yaw, pitch, roll]) + 180) % 360 - 180
        name = mat.with_suffix(".jpg").name
        assert (name in key_list("aflw2000-99")) == bool(np.all(np.abs([yaw, pitch, roll]) <= 99)), name
        assert (name in key_list("aflw2000-90")) == bool(np.all(np.abs(wrapped) < 90)), name


def test_real_biwi_frame_labels_match_the_published_ones(real_samples):
    """hpbench's BIWI angles of the real frame are FSA-Net's (as img2pose, opal23 and headposeplus
    list them); carried into the RGB camera with rgb.cal they are Biwi+'s calibrated labels."""
    from hpbench.converters.biwi import read_pose_file, read_rgb_calibration
    from hpbench.pose import get_convention

    folder = real_samples / "biwi" / "hpdb" / "01"
    rotation, _ = read_pose_file(folder / "frame_00003_pose.txt")
    _, rgb_rotation, _ = read_rgb_calibration(folder / "rgb.cal")
    biwi = get_convention("biwi")
    assert np.abs(biwi.to_canonical(rotation) - FRAME_3_YPR).max() < 1e-9
    assert np.abs(biwi.to_canonical(rgb_rotation @ rotation) - FRAME_3_BIWIPLUS_YPR).max() < 1e-4


def test_kaggle_layout_converts_to_the_same_file(synth_biwi, prepared_biwi, tmp_path_factory):
    """The Kaggle copy keeps the sequence folders under faces_0/: same keys, same content digest."""
    kaggle = tmp_path_factory.mktemp("kaggle")
    shutil.copytree(synth_biwi[0], kaggle / "faces_0")
    converted = HPFile(prepared(tmp_path_factory, "biwi", kaggle))
    reference = HPFile(prepared_biwi)
    assert list(converted.keys) == list(reference.keys)
    assert converted.attrs["content_sha256"] == reference.attrs["content_sha256"]


def _headposeplus_npz(path, keys, xywh, ypr):
    """A file in headposeplus' data/Biwi_plus.npz layout, quirks included: 'ids' one shorter than
    'images', a 'pyr' decomposition, a date string, no 'calibrated'."""
    np.savez(path, images=np.array(keys, dtype="<U22"), ids=np.zeros(len(keys) - 1, np.int64),
             pyr=np.asarray(ypr)[:, [1, 0, 2]] * [-1, 1, 1], ypr=np.asarray(ypr, np.float64),
             bbox=np.asarray(xywh, np.int32), date=np.array("2023-01-11"))


@pytest.fixture
def biwi_copy(prepared_biwi, tmp_path):
    path = tmp_path / "data" / "biwi.h5"
    path.parent.mkdir()
    shutil.copy(prepared_biwi, path)
    return path


def test_headposeplus_boxes_and_labels_import(biwi_copy, tmp_path, capsys):
    data = HPFile(biwi_copy)
    keys, n = [str(k) for k in data.keys], len(data)
    rng = np.random.default_rng(0)
    xywh = np.c_[rng.integers(200, 300, (n, 2)), rng.integers(100, 160, (n, 2))]
    labels = data.ypr.astype(np.float64) + rng.normal(0, 3, (n, 3))
    _headposeplus_npz(tmp_path / "Biwi_plus.npz", keys[1:] + ["99/frame_00001_rgb.png"], np.r_[xywh[1:], xywh[:1]],
                      np.r_[labels[1:], labels[:1]])
    code, out, err = run_cli(capsys, "bboxes", "import", "biwi", "--data", biwi_copy.parent, "--file",
                             tmp_path / "Biwi_plus.npz", "--format", "headposeplus", "--name", "biwiplus",
                             "--with-labels")
    assert code == 0, err
    assert f"{n - 1:,} samples got a 'biwiplus' box; 1 samples have none" in out
    assert "1 entries of the file match no sample" in out and "labels/biwiplus" in out
    data = HPFile(biwi_copy)
    boxes = data.box("biwiplus")
    assert np.isnan(boxes[0]).all() and np.isnan(data.pose("biwiplus")[0]).all()
    # the region headposeplus crops: PIL.crop((x, y, x + w - 1, y + h - 1)), pixels x .. x + w - 2
    assert boxes[1:].tolist() == np.c_[xywh[1:, :2], xywh[1:, :2] + xywh[1:, 2:] - 1].astype(float).tolist()
    assert np.array_equal(data.pose("biwiplus")[1:], labels[1:])
    assert verify_file(biwi_copy).ok


def _labelled_protocol(name: str = "biwiplus") -> Protocol:
    entry = SplitEntry("biwi", {"rule": "all"}, name, "projected", True, None, name)
    return Protocol(name="labelled", title="", origin="hpbench", source="", version=1, changelog=(),
                    task="headpose", filter_limit=99.0, crop="kd", input_size=224, metrics=("mae",),
                    missing_face="fallback", splits={"test": (entry,)})


def test_a_protocol_scores_against_its_entrys_labels(biwi_copy, tmp_path):
    data = HPFile(biwi_copy)
    keys, n = [str(k) for k in data.keys], len(data)
    labels = data.ypr.astype(np.float64) + 5.0
    _headposeplus_npz(tmp_path / "b.npz", keys, np.tile([250, 200, 120, 120], (n, 1)), labels)
    from hpbench.bboxes.peerfiles import import_peer_file

    import_peer_file(biwi_copy, tmp_path / "b.npz", "headposeplus", "biwiplus", with_labels=True)
    protocol = _labelled_protocol()
    (test,) = protocol.datasets("test", biwi_copy.parent)
    assert np.allclose(test.dataset.ypr, labels.astype(np.float32))
    own = dict(zip(keys, HPFile(biwi_copy).ypr.astype(np.float64)))
    assert protocol.score(test, own).metrics["mae"] == pytest.approx(5.0, abs=1e-4)
    assert protocol.score(test, dict(zip(keys, labels))).metrics["mae"] == pytest.approx(0.0, abs=1e-4)


def test_an_unlabelled_selected_sample_is_an_error_not_a_drop(biwi_copy, tmp_path):
    data = HPFile(biwi_copy)
    keys = [str(k) for k in data.keys]
    _headposeplus_npz(tmp_path / "b.npz", keys[2:], np.tile([250, 200, 120, 120], (len(keys) - 2, 1)),
                      data.ypr[2:])
    from hpbench.bboxes.peerfiles import import_peer_file

    import_peer_file(biwi_copy, tmp_path / "b.npz", "headposeplus", "biwiplus", with_labels=True)
    with pytest.raises(HpbenchError, match=f"2 selected samples have no label in labels/biwiplus .e.g. {keys[0]}"):
        select(_labelled_protocol(), "test", biwi_copy.parent)
    with pytest.raises(HpbenchError, match="no label source 'other'"):
        select(_labelled_protocol("other"), "test", biwi_copy.parent)


def test_a_pickled_npz_is_refused(biwi_copy, tmp_path, capsys):
    np.savez(tmp_path / "evil.npz", images=np.array([object()], dtype=object), bbox=np.zeros((1, 4)))
    code, _, err = run_cli(capsys, "bboxes", "import", "biwi", "--data", biwi_copy.parent, "--file",
                           tmp_path / "evil.npz", "--format", "headposeplus")
    assert code == 1 and "not a readable headposeplus .npz" in err and "Traceback" not in err


def test_opal23_biwi_list_imports_with_its_yaw_sign(biwi_copy, tmp_path):
    data = HPFile(biwi_copy)
    lines = ["#;image;tl_x;tl_y;br_x;br_y;yaw;pitch;roll;"]
    for key, (yaw, pitch, roll) in zip(data.keys, data.ypr.astype(np.float64)):
        lines.append(f"kinect_head_pose_db/{key};270;177;414;355;{-float(yaw)!r};{float(pitch)!r};{float(roll)!r}")
    (tmp_path / "biwi_ann.txt").write_text("\n".join(lines) + "\n")
    from hpbench.bboxes.peerfiles import import_peer_file

    report = import_peer_file(biwi_copy, tmp_path / "biwi_ann.txt", "opal23", "opal23", with_labels=True)
    assert report.matched == len(data) and not report.entries_without_sample
    data = HPFile(biwi_copy)
    assert (data.box("opal23") == [270, 177, 414, 355]).all()
    assert np.array_equal(data.pose("opal23"), data.ypr.astype(np.float64))


def test_opal23_aflw2000_list_boxes_its_rounded_points(prepared_aflw2000, tmp_path):
    path = tmp_path / "aflw2000.h5"
    shutil.copy(prepared_aflw2000, path)
    data = HPFile(path)
    points = np.linspace([30.4, 40.6], [150.5, 170.49], 68)
    row = ";".join(f"{float(x)!r};{float(y)!r}" for x, y in points)
    lines = ["#;image;yaw;pitch;roll;pt_x;pt_y"] + [f"images/{key};{key[:-4]};1.5;-2;3;{row}" for key in data.keys]
    (tmp_path / "aflw2000_ann.txt").write_text("\n".join(lines) + "\n")
    from hpbench.bboxes.peerfiles import import_peer_file

    import_peer_file(path, tmp_path / "aflw2000_ann.txt", "opal23", "opal23", with_labels=True)
    data = HPFile(path)
    # cv2.boundingRect of the rounded points: x 30 .. 150 (150.5 rounds to the even 150), y 41 .. 170
    assert (data.box("opal23") == [30, 41, 151, 171]).all()
    assert (data.pose("opal23") == [-1.5, -2, 3]).all()


def test_opal23_unknown_header_names_the_formats(biwi_copy, tmp_path):
    (tmp_path / "x.txt").write_text("image;a;b\n")
    from hpbench.bboxes.peerfiles import import_peer_file

    with pytest.raises(HpbenchError, match="none of opal23's BIWI, AFLW2000 or Panoptic headers"):
        import_peer_file(biwi_copy, tmp_path / "x.txt", "opal23", "opal23")


def test_a_refused_import_changes_nothing(biwi_copy, tmp_path):
    """Labels are checked before the boxes go in: a second import without --replace, or a file with a
    half-NaN label row, leaves the prepared file as it was."""
    from hpbench.bboxes.peerfiles import import_peer_file

    data = HPFile(biwi_copy)
    keys, n = [str(k) for k in data.keys], len(data)
    labels = data.ypr.astype(np.float64)
    _headposeplus_npz(tmp_path / "b.npz", keys, np.tile([250, 200, 120, 120], (n, 1)), labels)
    import_peer_file(biwi_copy, tmp_path / "b.npz", "headposeplus", "biwiplus", with_labels=True)
    before = biwi_copy.read_bytes()
    with pytest.raises(HpbenchError, match="labels/biwiplus exists"):
        import_peer_file(biwi_copy, tmp_path / "b.npz", "headposeplus", "biwiplus", with_labels=True)
    labels[3, 1] = np.nan
    _headposeplus_npz(tmp_path / "c.npz", keys, np.tile([250, 200, 120, 120], (n, 1)), labels)
    with pytest.raises(HpbenchError, match="neither three finite angles nor all NaN"):
        import_peer_file(biwi_copy, tmp_path / "c.npz", "headposeplus", "other", with_labels=True)
    assert biwi_copy.read_bytes() == before
