"""Face boxes: WIDER FACE parsing, detector training and relabelling offline, box files, pictures.

The relabelling proof uses weights committed as a test asset, made on the synthetic WIDER sample by:

    hpbench synth wider --n 400 --size 160 --out wider --workers 2
    hpbench detector prepare-wider --src wider --out wider-yolo
    hpbench detector train --data wider-yolo/data.yaml --model yolov5n.yaml --epochs 40 --imgsz 160 --batch 16

(``tests/assets/yolov5n-synthetic-wider.json`` records the run). Training that long takes minutes on
a CPU, so CI trains one epoch to prove the command works offline.
"""

from __future__ import annotations

import json
import socket

import cv2
import numpy as np
import pytest

from hpbench.bboxes.relabel import choose_face, iou
from hpbench.bboxes.wider import WiderCounts, parse_ground_truth, prepare_wider, yolo_lines
from hpbench.converters.verify import verify_file
from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.synth.writers import write_sample
from tests.conftest import WEIGHTS, prepared, run_cli

pytestmark = pytest.mark.usefixtures("private_cache")


def test_real_wider_val_file_counts(real_samples):
    images = parse_ground_truth(real_samples / "wider_face" / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    counts = WiderCounts(images=len(images))
    for image in images:
        yolo_lines(image.boxes, 10**5, 10**5, counts)
    assert (counts.images, counts.faces, counts.invalid, counts.zero_size) == (3226, 39708, 585, 11)
    assert counts.kept == 39708 - 585 - 11
    first = images[0]
    assert first.path == "0--Parade/0_Parade_marchingband_1_465.jpg" and len(first.boxes) == 126
    assert sum(box[4] for box in first.boxes) == 75


@pytest.fixture(scope="module")
def wider(tmp_path_factory):
    raw = tmp_path_factory.mktemp("wider") / "raw"
    records = write_sample("wider", raw, 60, seed=7, size=160)
    return raw, records


def test_synthetic_wider_quirks_and_conversion(wider, tmp_path):
    raw, records = wider
    text = (raw / "wider_face_split" / "wider_face_train_bbx_gt.txt").read_text()
    assert "\n0\n0 0 0 0 0 0 0 0 0 0 \n" in text  # a face-less image and its line of zeros
    assert text.endswith("\n\n") and " \n" in text  # final blank line, trailing spaces
    counts = prepare_wider(raw, tmp_path / "yolo")
    train, val = counts["train"], counts["val"]
    assert train.images + val.images == 60 and train.images_without_faces > 0
    assert train.invalid + val.invalid > 0 and train.zero_size + val.zero_size > 0
    assert train.kept + val.kept == sum(len(r.boxes["heads"]) for r in records)
    data = (tmp_path / "yolo" / "data.yaml").read_text()
    assert f"path: {(tmp_path / 'yolo').resolve()}" in data and "download" not in data
    label = next((tmp_path / "yolo" / "labels" / "train").rglob("*.txt"))
    image = (tmp_path / "yolo" / "images" / "train" / label.relative_to(tmp_path / "yolo" / "labels" / "train")).with_suffix(".jpg")
    assert image.is_symlink() and image.resolve().is_relative_to(raw.resolve())
    for line in filter(None, label.read_text().splitlines()):
        values = [float(v) for v in line.split()]
        assert values[0] == 0 and all(0 <= v <= 1 for v in values[1:])


def test_malformed_ground_truth_names_the_line(tmp_path):
    gt = tmp_path / "wider_face_train_bbx_gt.txt"
    gt.write_text("0--Parade/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0 \n1 2 3\n")
    with pytest.raises(HpbenchError, match="line 4: expected ten numbers"):
        parse_ground_truth(gt)


def test_choose_face_rules():
    reference = np.array([10.0, 10, 50, 50])
    boxes = np.array([[100.0, 100, 150, 150], [12, 8, 52, 55], [0, 0, 30, 30]])
    box, score, overlap, status, _ = choose_face(boxes, np.array([0.9, 0.8, 0.7]), reference, min_iou=0.3)
    assert status == "detected" and score == 0.8 and np.array_equal(box, boxes[1])
    assert overlap == pytest.approx(iou(boxes[1:2], reference)[0])
    assert np.isnan(choose_face(boxes, np.array([0.9, 0.8, 0.7]), reference, min_iou=0.3).rejected).all()
    # a fallback keeps the reference box, and the best detection it turned down with its own score and IoU
    box, score, overlap, status, rejected = choose_face(boxes[[0, 2]], np.array([0.9, 0.7]), reference, min_iou=0.3)
    assert status == "fallback" and np.array_equal(box, reference) and np.array_equal(rejected, boxes[2])
    assert score == 0.7 and overlap == pytest.approx(400 / 2100)  # 20×20 shared of 1,600 + 900 − 400
    nothing = choose_face(np.zeros((0, 4)), np.zeros(0), reference)
    assert nothing.status == "fallback" and np.isnan([nothing.score, nothing.iou, *nothing.rejected]).all()
    # BIWI: the box must hold the projected head centre; the nearest centre wins
    centre = np.array([30.0, 30.0])
    biwi = np.array([[0.0, 0, 100, 100], [20, 20, 42, 42], [200, 200, 240, 240]])
    box, _, _, status, _ = choose_face(biwi, np.array([0.99, 0.5, 0.9]), reference, centre)
    assert status == "detected" and np.array_equal(box, biwi[1])
    far = choose_face(biwi[2:], np.array([0.9]), reference, centre)
    assert far.status == "fallback" and np.array_equal(far.rejected, biwi[2]) and far.score == 0.9
    assert iou(np.array([[0.0, 0, 10, 10]]), np.array([5.0, 0, 15, 10]))[0] == pytest.approx(1 / 3)


def test_one_epoch_detector_training_stays_offline(wider, tmp_path, no_network, capsys):
    raw, _ = wider
    prepare_wider(raw, tmp_path / "yolo")
    code, out, err = run_cli(capsys, "detector", "train", "--data", tmp_path / "yolo" / "data.yaml", "--epochs", "1",
                             "--imgsz", "96", "--batch", "8", "--workers", "0", "--out", tmp_path / "run")
    assert code == 0, err[-2000:]
    record = json.loads((tmp_path / "run" / "weights" / "best.json").read_text())
    assert record["epochs"] == 1 and len(record["weights_sha256"]) == 64 and len(record["data_sha256"]) == 64
    assert "hpbench detector train" in record["command"]


@pytest.fixture(scope="module")
def relabelled(tmp_path_factory):
    """A synthetic AFLW2000 sample relabelled with the committed weights (the network blocked)."""
    raw = tmp_path_factory.mktemp("raw") / "aflw2000"
    records = write_sample("aflw2000", raw, 100, seed=13, size=450)
    path = prepared(tmp_path_factory, "aflw2000", raw)
    out = path.parent / "bboxes"
    with pytest.MonkeyPatch.context() as patch:
        def refuse(*args, **kwargs):
            raise AssertionError("network access attempted")

        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        from hpbench.bboxes.relabel import relabel

        summary = relabel("aflw2000", WEIGHTS, path.parent, out, progress=False)  # at the trained size, 160
    return path, records, summary, out


def test_relabelling_finds_the_synthetic_heads(relabelled):
    path, records, summary, _ = relabelled
    data = HPFile(path)
    truth = {r.key: r.head_box for r in records}
    status = data.box_status("yolo")
    good = [status[i] == "detected" and iou(data.box("yolo")[i:i + 1], truth[key])[0] >= 0.5
            for i, key in enumerate(data.keys)]
    print(f"detected with IoU ≥ 0.5 against the true head box: {np.mean(good):.1%}; {summary}")
    assert np.mean(good) >= 0.95
    speed = summary["speed"]  # the detector's own images/s, apart from the model's (issue: speed as results)
    assert speed["images"] == len(data) and 0 < speed["images_per_s"] <= speed["detector_images_per_s"]
    assert set(status) <= {"detected", "fallback"} and len(status) == len(records)  # nothing dropped
    fallback = status == "fallback"
    np.testing.assert_array_equal(data.box("yolo")[fallback], data.box("landmarks")[fallback])
    rejected = data.box_rejected("yolo")
    assert np.isnan(rejected[~fallback]).all()  # only a fallback has a detection it turned down
    score, overlap = data.box_quality("yolo")
    turned_down = np.isfinite(rejected).all(axis=1)
    assert (np.isfinite(score) == (~fallback | turned_down)).all()
    assert (overlap[turned_down] < 0.1).all()  # turned down: below --min-iou
    assert verify_file(path).ok


def test_box_file_header_and_rows(relabelled):
    path, records, summary, out = relabelled
    from hpbench.bboxes.boxfiles import read_box_csv
    from hpbench.provenance import file_sha256

    header, rows = read_box_csv(out / "aflw2000.yolo.csv")
    assert header["weights_sha256"] == file_sha256(WEIGHTS) and header["source"] == "yolo"
    assert header["counts"] == " ".join(f"{k}={v}" for k, v in sorted(summary["counts"].items()))
    assert len(rows) == len(records) and not (out / "aflw2000.yolo.csv.progress").exists()
    data = HPFile(path)
    np.testing.assert_allclose(rows[data.keys[0]][0], data.box("yolo")[0], atol=0.01)


def test_relabelling_resumes_after_an_interruption(relabelled, monkeypatch, tmp_path):
    path, _, _, _ = relabelled
    from hpbench.bboxes import relabel as module

    calls = []
    original = module.Detector.__call__

    class Interrupted(Exception):
        pass

    def interrupted(self, images):
        calls.append(len(images))
        if len(calls) == 3 and not done:
            done.append(True)
            raise Interrupted
        return original(self, images)

    done: list = []

    monkeypatch.setattr(module.Detector, "__call__", interrupted)
    with pytest.raises(Interrupted):
        module.relabel("aflw2000", WEIGHTS, path.parent, tmp_path, batch_size=10, imgsz=160, progress=False)
    partial = tmp_path / "aflw2000.yolo.csv.progress"
    assert len(partial.read_text().splitlines()) == 2 + 20  # header, columns, two finished batches
    calls.clear()
    module.relabel("aflw2000", WEIGHTS, path.parent, tmp_path, batch_size=10, imgsz=160, progress=False)
    assert sum(calls) == 80  # only what was left


def test_kd_json_import_and_export(relabelled, tmp_path, capsys):
    path, _, _, _ = relabelled
    exported = tmp_path / "AFLW2000.json"
    code, _, err = run_cli(capsys, "bboxes", "export", "aflw2000", "--data", path.parent, "--name", "landmarks",
                           "--kd-json", exported)
    assert code == 0, err
    content = json.loads(exported.read_text())
    first = next(iter(content))
    content["not/a/sample.jpg"] = [{"bbox": [1, 2, 3, 4], "type": "test"}]
    missing = sorted(content)[-2]
    del content[missing]
    exported.write_text(json.dumps(content))
    code, out, err = run_cli(capsys, "bboxes", "import", "aflw2000", "--data", path.parent, "--kd-json", exported,
                             "--name", "kd")
    assert code == 0, err
    assert "1 samples have none" in out and "1 entries of the file match no sample" in out and missing in out
    assert f"entry types: test 1 ({len(content) - 1:,} without a type)" in out  # only the added entry has one
    data = HPFile(path)
    row = list(data.keys).index(first)
    np.testing.assert_allclose(data.box("kd")[row], data.box("landmarks")[row], atol=0.01)
    assert np.isnan(data.box("kd")[list(data.keys).index(missing)]).all()
    assert verify_file(path).ok


def test_box_picture(relabelled, tmp_path, capsys):
    path, _, _, _ = relabelled
    code, out, err = run_cli(capsys, "bboxes", "show", "aflw2000", "--data", path.parent, "--n", "6", "--out",
                             tmp_path / "grid.png")
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "grid.png")).shape == (30 + 2 * 256, 4 * 256, 3)  # the legend above the tiles
    # a fallback tile shows the detection it turned down, dashed in orange, and its score and IoU
    import shutil

    from hpbench.bboxes.show import COLOURS
    from hpbench.format import add_box_source

    copy = tmp_path / "data" / path.name
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    data = HPFile(copy)
    n, reference = len(data), data.box("landmarks")
    data.close()
    status, rejected = np.array(["detected"] * n, dtype=object), np.full((n, 4), np.nan)
    status[0], rejected[0] = "fallback", [10.0, 10, 120, 120]
    add_box_source(copy, "yolo", reference, status, np.full(n, 0.5), np.full(n, 0.05), replace=True,
                   rejected=rejected)
    assert verify_file(copy).ok
    code, out, err = run_cli(capsys, "bboxes", "show", "aflw2000", "--data", copy.parent, "--n", "1", "--out",
                             tmp_path / "fallback.png")
    assert code == 0, err
    tile = cv2.imread(str(tmp_path / "fallback.png"))[30:]
    orange = (tile == COLOURS["rejected"]).all(axis=-1)
    scale = 256 / 450  # the synthetic images are 450 px: the dashes run along the rejected box's edges
    ys, xs = np.nonzero(orange)
    assert orange.sum() > 100 and abs(ys.min() - 10 * scale) <= 2 and abs(xs.max() - 120 * scale) <= 2


def test_the_detector_leaves_torchs_thread_count_alone():
    """ultralytics sets torch's CPU threads to cores − 1 when it picks a device; hpbench restores them."""
    import torch

    from hpbench.bboxes.detector import Detector

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        Detector(WEIGHTS)([np.zeros((160, 160, 3), np.uint8)])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_kd_boxes_keep_every_digit_the_crop_truncates(prepared_biwi, tmp_path):
    """kd_oe_hpe's data/BIWI.json holds, for 09/frame_00860_rgb.png, x2 = 469.9999942779541; KD's crop
    (src/datasets.py, BaseDataset.__getitem__: x2 = int(x2)) cuts at 469. In float32 it became 470."""
    import shutil

    from hpbench.bboxes.boxfiles import export_kd_json, import_kd_json
    from hpbench.data.crops import kd_region

    path = tmp_path / "biwi.h5"
    shutil.copy(prepared_biwi, path)
    key = str(HPFile(path).keys[0])
    box = [354.6571788787842, 221.90229749679565, 469.9999942779541, 340.41070318222046]
    (tmp_path / "BIWI.json").write_text(json.dumps({key: [{"bbox": box, "type": "train"}]}))
    import_kd_json(path, tmp_path / "BIWI.json", "kd")
    stored = HPFile(path).box("kd")[0]
    assert stored.tolist() == box
    assert kd_region(stored, (480, 640)) == (354, 221, 469, 340)
    exported = json.loads(export_kd_json(path, "kd", tmp_path / "out.json").read_text())
    assert exported[key][0]["bbox"] == box  # and back out, digit for digit
    assert verify_file(path).ok
