"""The HDF5 layout: writer, reader, validator."""

from __future__ import annotations

import multiprocessing
import pickle

import cv2
import h5py
import numpy as np
import pytest

from hpbench.format import HPFile, Layout, Sample, Writer, validate
from hpbench.pose import rotation_from_ypr
from tests.conftest import run_cli

LAYOUT = Layout(
    dataset="toy",
    landmark_names=("a", "b", "c"),
    box_sources=("landmarks",),
    meta={"identity": "str", "frame": "int", "weight": "float"},
)


def _jpeg(seed: int, size: int = 24) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (size, size + seed % 3, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def toy_samples(n: int) -> list[Sample]:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        landmarks = rng.uniform(0, 20, (3, 2))
        if i % 4 == 0:
            landmarks[1] = np.nan
        samples.append(
            Sample(key=f"img{i:03d}.jpg", image=_jpeg(i), image_format="jpeg", height=24, width=24 + i % 3,
                   ypr=rng.uniform(-90, 90, 3), landmarks=landmarks, boxes={"landmarks": np.array([1, 2, 10, 12.5])},
                   meta={"identity": f"id{i // 3}", "frame": i * 10, "weight": i / 7})
        )
    return samples


def write_toy(path, n=10, batch_size=4) -> str:
    with Writer(path, LAYOUT, "manifest", batch_size=batch_size) as writer:
        for sample in toy_samples(n):
            writer.append(sample)
        return writer.commit()


def test_round_trip_keeps_every_value(tmp_path):
    write_toy(tmp_path / "toy.h5", n=10)
    data = HPFile(tmp_path / "toy.h5")
    expected = toy_samples(10)
    assert len(data) == 10 and data.attrs["dataset"] == "toy" and data.layout == LAYOUT
    assert list(data.keys) == [s.key for s in expected]
    np.testing.assert_allclose(data.ypr, [s.ypr for s in expected], atol=1e-5)
    np.testing.assert_allclose(data.rotation, rotation_from_ypr(np.array([s.ypr for s in expected])), atol=1e-6)
    np.testing.assert_allclose(data.landmarks, [s.landmarks for s in expected], atol=1e-5)
    assert np.isnan(data.landmarks[0, 1]).all() and not np.isnan(data.landmarks[1]).any()
    assert list(data.meta("identity")) == [s.meta["identity"] for s in expected]
    assert list(data.meta("frame")) == [s.meta["frame"] for s in expected]
    np.testing.assert_allclose(data.meta("weight"), [s.meta["weight"] for s in expected])
    assert [data.encoded_image(i) for i in range(10)] == [s.image for s in expected]
    assert data.image(2).shape == (24, 26, 3)
    np.testing.assert_array_equal(data.image_sizes[:3], [[24, 24], [24, 25], [24, 26]])


def test_digest_depends_on_content_not_on_batching(tmp_path):
    assert write_toy(tmp_path / "a.h5", batch_size=3) == write_toy(tmp_path / "b.h5", batch_size=100)
    assert write_toy(tmp_path / "c.h5", n=9) != write_toy(tmp_path / "d.h5", n=10)


def test_equal_length_images_are_written_row_by_row(tmp_path):
    image = _jpeg(0)
    layout = Layout(dataset="same")
    with Writer(tmp_path / "same.h5", layout, "m") as writer:
        for i in range(3):
            writer.append(Sample(f"k{i}", image, "jpeg", 24, 24, ypr=[0, 0, 0]))
    assert HPFile(tmp_path / "same.h5").encoded_image(2) == image


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "toy.h5"
    with pytest.raises(RuntimeError):
        with Writer(path, LAYOUT, "manifest", batch_size=2) as writer:
            for sample in toy_samples(5):
                writer.append(sample)
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_duplicate_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="duplicate sample key"):
        with Writer(tmp_path / "toy.h5", LAYOUT, "m") as writer:
            writer.append(toy_samples(1)[0])
            writer.append(toy_samples(1)[0])
    assert not (tmp_path / "toy.h5").exists()


def _count_in_child(data: HPFile, queue) -> None:
    queue.put((len(data.keys), data.encoded_image(1)[:2]))


def test_reader_survives_pickling_and_fork(tmp_path):
    write_toy(tmp_path / "toy.h5")
    data = HPFile(tmp_path / "toy.h5")
    _ = data.keys  # opened and cached in the parent
    clone = pickle.loads(pickle.dumps(data))
    assert clone.encoded_image(0) == data.encoded_image(0)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_count_in_child, args=(data, queue))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) == (10, b"\xff\xd8")


def test_validate_accepts_a_good_file(tmp_path):
    write_toy(tmp_path / "toy.h5")
    report = validate(tmp_path / "toy.h5")
    assert report.ok, report.checks
    assert all(check.status == "ok" for check in report.checks)


def _damaged(tmp_path, damage) -> str:
    path = tmp_path / "toy.h5"
    write_toy(path)
    with h5py.File(path, "r+") as handle:
        damage(handle)
    return path


def _retype(handle):
    values = handle["pose/ypr"][()]
    del handle["pose/ypr"]
    handle.create_dataset("pose/ypr", data=values.astype(np.float64))


def _duplicate(handle):
    keys = handle["key"].asstr()[()]
    handle["key"][3] = keys[2]


@pytest.mark.parametrize(
    "damage, check, words",
    [
        (_retype, "dtypes and shapes", "pose/ypr: dtype float64"),
        (_duplicate, "unique keys", "key 'img002.jpg' appears 2 times"),
        (lambda h: h.__delitem__("meta/frame"), "keys", "missing key 'meta/frame'"),
        (lambda h: h["pose/ypr"].__setitem__((0, 0), 12.5), "value rules", "differs from pose/ypr"),
        (lambda h: h["landmarks/xy"].__setitem__((2, 0, 0), np.nan), "value rules", "exactly one NaN"),
        (lambda h: h["meta/weight"].__setitem__(1, 99.0), "content digest", "recomputed"),
        (lambda h: h["bbox/landmarks"].__setitem__((1, 2), -5.0), "value rules", "x2 < x1"),
    ],
)
def test_validate_names_each_problem(tmp_path, damage, check, words):
    report = validate(_damaged(tmp_path, damage))
    assert not report.ok
    failed = {c.name: c.message for c in report.checks if c.status == "fail"}
    assert check in failed and words in failed[check], failed


def test_verify_cli_exit_codes(tmp_path, capsys):
    write_toy(tmp_path / "good.h5")
    code, out, _ = run_cli(capsys, "verify", tmp_path / "good.h5")
    assert code == 0 and "content digest" in out
    (tmp_path / "bad").mkdir()
    path = _damaged(tmp_path / "bad", _retype)
    code, out, _ = run_cli(capsys, "verify", path)
    assert code == 1 and "FAIL" in out and "pose/ypr: dtype float64" in out
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    code, out, _ = run_cli(capsys, "verify", tmp_path / "junk.h5")
    assert code == 1 and "not an HDF5 file" in out


def test_atomic_writes_appear_whole_or_not_at_all(tmp_path):
    from hpbench.io import atomic_path, write_text_atomic

    assert write_text_atomic(tmp_path / "a.json", "{}\n").read_text() == "{}\n"
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "b.json") as partial:
            partial.write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_adding_a_box_source_keeps_the_prepare_report_true(prepared_aflw2000, tmp_path):
    import json
    import shutil

    from hpbench.format.update import add_box_source

    path = tmp_path / "aflw2000.h5"
    shutil.copy(prepared_aflw2000, path)
    shutil.copy(prepared_aflw2000.with_suffix(".prepare.json"), path.with_suffix(".prepare.json"))
    data = HPFile(path)
    digest = add_box_source(path, "mine", data.box("landmarks") + 1.0)
    report = json.loads(path.with_suffix(".prepare.json").read_text())
    assert report["content_sha256"] == digest == HPFile(path).attrs["content_sha256"]
    assert report["changes"][-1]["added box source"] == "mine"


def test_a_layout_names_box_rejected_only_when_it_has_one():
    """Files relabelled before ``bbox/<source>_rejected`` existed keep their layout JSON, hence their digest."""
    plain = Layout(dataset="aflw2000", box_sources=("landmarks", "yolo"), box_status=("yolo",))
    assert "box_rejected" not in plain.to_json() and Layout.from_json(plain.to_json()) == plain
    kept = Layout(dataset="aflw2000", box_sources=("landmarks", "yolo"), box_status=("yolo",), box_rejected=("yolo",))
    assert Layout.from_json(kept.to_json()) == kept and "bbox/yolo_rejected" in kept.fields()
    with pytest.raises(ValueError, match="box_rejected"):
        Layout(dataset="aflw2000", box_sources=("yolo",), box_rejected=("yolo",))
