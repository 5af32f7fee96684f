"""300W-LP and AFLW2000: synth → raw files → ``hpbench prepare`` → HDF5, and every bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hpbench.converters.prepare import prepare
from hpbench.format import HPFile
from hpbench.pose import inside_range
from tests.conftest import run_cli


def _by_key(records):
    return {record.key: record for record in records}


def test_300w_lp_round_trip_recovers_every_label(synth_300w_lp, tmp_path, capsys):
    raw, truth = synth_300w_lp
    code, out, err = run_cli(capsys, "prepare", "300w_lp", "--src", raw, "--out", tmp_path)
    assert code == 0, err
    data = HPFile(tmp_path / "300w_lp.h5")
    expected = _by_key(truth)
    assert len(data) == len(truth) == 60
    assert sorted(data.keys) == sorted(expected)
    for i, key in enumerate(data.keys):
        record = expected[key]
        np.testing.assert_allclose(data.ypr[i], record.ypr, atol=1e-4)
        np.testing.assert_allclose(data.landmarks[i], record.landmarks, atol=1e-3)
        np.testing.assert_allclose(data.box("landmarks")[i], [*record.landmarks.min(0), *record.landmarks.max(0)],
                                   atol=1e-3)
        assert data.meta("identity")[i] == record.meta["identity"]
        assert data.meta("source_folder")[i] == record.meta["source_folder"]
        assert data.meta("view_index")[i] == record.meta["view_index"]
        assert data.encoded_image(i) == (raw / key).read_bytes()
    identities = data.meta("identity")
    folders = data.meta("source_folder")
    assert len(set(identities)) == 6
    for identity in set(identities):  # a face and its mirror share the identity
        assert {f.removesuffix("_Flip") for f in folders[identities == identity]} == {folders[identities == identity][0]}
    inside = int(inside_range(np.array([r.ypr for r in truth])).sum())
    assert int(inside_range(data.ypr).sum()) == inside < 60  # some views lie beyond ±99°
    assert f"({inside} inside ±99°)" in out


def test_aflw2000_round_trip_recovers_every_label(synth_aflw2000, prepared_aflw2000):
    raw, truth = synth_aflw2000
    data = HPFile(prepared_aflw2000)
    assert list(data.keys) == sorted(r.key for r in truth)
    expected = _by_key(truth)
    for i, key in enumerate(data.keys):
        record = expected[key]
        np.testing.assert_allclose(data.ypr[i], record.ypr, atol=1e-4)
        missing = np.isnan(record.landmarks).any(axis=1)
        np.testing.assert_array_equal(np.isnan(data.landmarks[i]).any(axis=1), missing)
        np.testing.assert_allclose(data.landmarks[i][~missing], record.landmarks[~missing], atol=1e-3)
        valid = record.landmarks[~missing]
        np.testing.assert_allclose(data.box("landmarks")[i], [*valid.min(0), *valid.max(0)], atol=1e-3)
    all_missing = np.isnan(data.landmarks[..., 0])
    assert all_missing.any() and not all_missing.all()  # the −1 markers were there and became NaN
    outside = ~inside_range(data.ypr)
    assert outside.sum() == (~inside_range(np.array([r.ypr for r in truth]))).sum() > 0


def test_workers_give_the_same_file_content(synth_aflw2000, prepared_aflw2000, tmp_path):
    report = prepare("aflw2000", synth_aflw2000[0], tmp_path, workers=2, progress=False)
    assert report.content_sha256 == HPFile(prepared_aflw2000).attrs["content_sha256"]


def test_existing_output_needs_overwrite(synth_aflw2000, prepared_aflw2000, capsys):
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", synth_aflw2000[0], "--out",
                           prepared_aflw2000.parent)
    assert code == 1 and "already exists; pass --overwrite" in err


@pytest.fixture
def small_aflw2000(synth_aflw2000, tmp_path):
    """A writable copy of 6 synthetic AFLW2000 pairs to break."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for record in synth_aflw2000[1][:6]:
        stem = record.key.removesuffix(".jpg")
        for suffix in (".jpg", ".mat"):
            shutil.copy(synth_aflw2000[0] / f"{stem}{suffix}", raw / f"{stem}{suffix}")
    return raw, sorted(p.stem for p in raw.glob("*.jpg"))


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _corrupt_image(path):
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300 + b"\xff\xd9")


def _mat_without_pose(path):
    import scipy.io

    content = scipy.io.loadmat(path)
    scipy.io.savemat(path, {"pt2d": content["pt2d"], "roi": content["roi"]})


@pytest.mark.parametrize(
    "break_it, words",
    [
        (lambda raw, stem: (raw / f"{stem}.mat").unlink(), "is missing (every image needs its .mat"),
        (lambda raw, stem: _corrupt_image(raw / f"{stem}.jpg"), "cannot be decoded as a JPEG"),
        (lambda raw, stem: _truncate(raw / f"{stem}.jpg"), "truncated JPEG"),
        (lambda raw, stem: _truncate(raw / f"{stem}.mat"), "cannot be read as a MATLAB v5 file"),
        (lambda raw, stem: _mat_without_pose(raw / f"{stem}.mat"), "has no 'Pose_Para' variable (found: pt2d, roi)"),
        (lambda raw, stem: (raw / f"{stem}.jpg").unlink(), "is missing (its annotation"),
    ],
)
def test_bad_input_names_the_file_and_leaves_nothing(small_aflw2000, tmp_path, capsys, break_it, words):
    raw, stems = small_aflw2000
    broken = stems[2]
    break_it(raw, broken)
    out = tmp_path / "data"
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", raw, "--out", out)
    assert code == 1
    assert broken in err and words in err and "--skip-bad" in err
    assert not out.exists() or list(out.iterdir()) == []

    code, stdout, err = run_cli(capsys, "prepare", "aflw2000", "--src", raw, "--out", out, "--skip-bad")
    assert code == 0, err
    assert "wrote 5 samples" in stdout and "skipped 1 of 6 found" in stdout and broken in stdout
    data = HPFile(out / "aflw2000.h5")
    assert len(data) == 5 and f"{broken}.jpg" not in set(data.keys)
    report = json.loads((out / "aflw2000.prepare.json").read_text())
    assert [entry["path"].split("/")[-1].split(".")[0] for entry in report["skipped"]] == [broken]
    assert words in report["skipped"][0]["reason"]


def test_a_folder_that_is_not_the_dataset(tmp_path, capsys):
    (tmp_path / "300W_LP").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = run_cli(capsys, "prepare", "300w_lp", "--src", tmp_path, "--out", tmp_path / "data")
    assert code == 1 and "does not look like 300W-LP" in err and f"Did you mean --src {tmp_path / '300W_LP'}" in err
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", tmp_path, "--out", tmp_path / "data")
    assert code == 1 and "does not look like AFLW2000" in err
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", tmp_path / "nowhere", "--out", tmp_path / "d")
    assert code == 1 and "no such folder" in err
    assert not (tmp_path / "data").exists()


def test_console_script_end_to_end(tmp_path):
    """The installed ``hpbench`` entry point: synth → prepare → verify."""
    hpbench = [sys.executable, "-m", "hpbench"]
    run = lambda *args: subprocess.run([*hpbench, *map(str, args)], capture_output=True, text=True, timeout=300)  # noqa: E731
    result = run("synth", "aflw2000", "--n", "12", "--size", "120", "--out", tmp_path / "raw")
    assert result.returncode == 0, result.stderr
    result = run("prepare", "aflw2000", "--src", tmp_path / "raw", "--out", tmp_path / "data")
    assert result.returncode == 0 and "wrote 12 samples" in result.stdout, result.stderr
    result = run("verify", tmp_path / "data" / "aflw2000.h5")
    assert result.returncode == 0 and "WARN" in result.stdout and "FAIL" not in result.stdout


def test_verify_compares_counts_with_the_published_ones(prepared_aflw2000):
    from hpbench.converters.verify import verify_file

    report = verify_file(prepared_aflw2000)
    statuses = {check.name: (check.status, check.message) for check in report.checks}
    assert report.ok
    assert statuses["samples vs published"] == ("warn", "120 in the file, 2,000 published")
    assert statuses["samples inside ±99° vs published"][0] == "warn"
    assert statuses["content digest"][0] == "ok"
