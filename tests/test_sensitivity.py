"""How much the choices move the score: each controlled change does to the pixels what it says, the
report finds a box spread and no batch effect for a sound model, flags a model that reads batch
statistics or ignores the image, and its spread reaches the record and the leaderboard."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
import yaml

import hpbench
from hpbench.data.crop_cache import CACHE_VERSION, CacheRequest
from hpbench.data.crops import crop_image
from hpbench.data.perturb import BoxChange, Degradation
from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError
from hpbench.evaluation.records import ResultRecord
from hpbench.evaluation.sensitivity import sensitivity_table
from hpbench.leaderboard.build import build_files
from hpbench.leaderboard.rows import leaderboards_dir
from hpbench.models import create_model
from tests.conftest import run_cli

SIZE = 64


def test_a_box_change_is_exact():
    boxes = np.array([[10.0, 20.0, 30.0, 60.0]])
    assert BoxChange(scale=1.2).apply(boxes).tolist() == [[8.0, 16.0, 32.0, 64.0]]
    assert BoxChange(dx=-2, dy=4).apply(boxes).tolist() == [[8.0, 24.0, 28.0, 64.0]]
    assert str(BoxChange(scale=0.9)) == "box × 0.9" and str(BoxChange(dx=1)) == "shift +1,+0 px"


def test_a_one_pixel_shift_moves_the_crop_by_one_pixel():
    image = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    box = np.array([[10.0, 12.0, 10.0 + SIZE, 12.0 + SIZE]])  # the kd crop of a 64-px box at 64 px: no resize
    crop = crop_image(image, box[0], "kd", SIZE)
    moved = crop_image(image, BoxChange(dx=1).apply(box)[0], "kd", SIZE)
    assert np.array_equal(moved[:, :-1], crop[:, 1:]) and not np.array_equal(moved, crop)
    down = crop_image(image, BoxChange(dy=1).apply(box)[0], "kd", SIZE)
    assert np.array_equal(down[:-1], crop[1:])


def test_each_degradation_does_what_it_says():
    crop = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    small = Degradation("downscale", 16).apply(crop)
    expected = cv2.resize(cv2.resize(crop, (16, 16), interpolation=cv2.INTER_AREA), (SIZE, SIZE),
                          interpolation=cv2.INTER_LINEAR)
    assert small.shape == crop.shape and np.array_equal(small, expected)
    jpeg = Degradation("jpeg", 50)
    assert np.array_equal(jpeg.apply(crop), jpeg.apply(crop)) and not np.array_equal(jpeg.apply(crop), crop)
    assert np.array_equal(Degradation("blur", 2).apply(crop), cv2.GaussianBlur(crop, (0, 0), 2.0,
                                                                               borderType=cv2.BORDER_REFLECT_101))
    swapped = Preprocessing(colour="bgr").to_uint8(crop)
    assert torch.equal(swapped, Preprocessing(colour="rgb").to_uint8(crop).flip(0))  # a channel swap swaps channels
    with pytest.raises(HpbenchError, match="one of jpeg, downscale, blur"):
        Degradation("sharpen", 1)


def test_a_degraded_crop_has_its_own_cache_key_and_the_others_keep_theirs():
    fields = dict(file="f.h5", content_sha256="c", indices_sha256="i", boxes_sha256="b", crop="kd", size=64,
                  resize_kernel="opencv-linear")
    import hashlib

    unchanged = hashlib.sha256(json.dumps({"version": CACHE_VERSION, **{k: v for k, v in fields.items()
                                                                        if k != "file"}},
                                          sort_keys=True).encode()).hexdigest()[:32]
    assert CacheRequest(**fields).key == unchanged  # the caches made before degradations existed stay valid
    assert CacheRequest(**fields, degrade=repr(Degradation("jpeg", 50))).key != unchanged


@pytest.fixture(scope="module")
def head(prepared_aflw2000, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sensitivity")
    (folder / "data").mkdir()
    (folder / "data" / "aflw2000.h5").symlink_to(prepared_aflw2000)
    protocol = folder / "sens.yaml"
    protocol.write_text(yaml.safe_dump({
        "name": "sens", "title": "sensitivity", "version": 1, "changelog": [{"version": 1}], "task": "headpose",
        "filter": {"limit": 99}, "crop": "kd", "input_size": SIZE, "metrics": ["mae"], "missing_face": "fallback",
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    return folder, protocol


def test_a_sound_model_has_a_box_spread_and_no_batch_effect(head, capsys):
    folder, protocol = head
    torch.manual_seed(0)
    model = create_model("hopenet.resnet18", input_size=SIZE)
    result = hpbench.sensitivity(model, protocol, data=folder / "data", groups=("box and crop", "run"), progress=False)
    low, high = result.spread("aflw2000", "box and crop")
    assert high - low > 0.01 and result.flags() == []
    base = result.base.record.results["aflw2000"].metrics["mae"]
    assert abs(result.value("batch 1", "aflw2000") - base) < 1e-3  # measured: under 1e-5°
    assert result.value("uncached crops", "aflw2000") == pytest.approx(base, abs=1e-9)
    section = result.base.record.sensitivity
    assert section["spread"]["aflw2000"]["box and crop"] == [low, high]
    assert section["summary"]["aflw2000"].startswith(f"MAE {base:.2f} under sens; {low:.2f}–{high:.2f}")
    table = sensitivity_table(result)
    assert "shift x +1 px" in table and "batch 1" in table and "boxes pt2d" in table


class BatchStatistics(torch.nn.Module):
    """A model that normalises with the batch's own statistics, as BatchNorm left in training mode does."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=4), torch.nn.AdaptiveAvgPool2d(1),
                                            torch.nn.Flatten())
        self.angles = torch.nn.Linear(4, 3)

    def forward(self, images):
        features = self.features(images)
        return 20 * self.angles(features - features.mean(dim=0, keepdim=True))


def test_a_model_that_reads_batch_statistics_or_ignores_the_image_is_flagged(head):
    folder, protocol = head
    torch.manual_seed(0)
    result = hpbench.sensitivity(BatchStatistics(), protocol, data=folder / "data", groups=("run",), progress=False)
    assert any("batch 1 moves MAE" in flag for flag in result.flags())

    def blind(images):
        return np.tile([5.0, -3.0, 1.0], (len(images), 1))

    result = hpbench.sensitivity(blind, protocol, data=folder / "data", groups=("input",), progress=False)
    assert any("does the model look at the image" in flag for flag in result.flags())


def test_the_command_writes_the_report_the_chart_and_the_record(head, tmp_path, capsys):
    folder, protocol = head
    torch.manual_seed(0)
    from hpbench.models.checkpoint import Checkpoint

    Checkpoint.of_model(create_model("hopenet.resnet18", input_size=SIZE)).save(tmp_path / "m.pt")
    code, out, err = run_cli(capsys, "sensitivity", tmp_path / "m.pt", "--protocol", protocol, "--data",
                             folder / "data", "--groups", "run", "--charts", tmp_path / "charts", "--out",
                             tmp_path / "r.json")
    assert code == 0, err
    assert "aflw2000: MAE" in out and "+0.00 batch" in out
    assert (tmp_path / "charts" / "sens-aflw2000-sensitivity.png").stat().st_size > 5000
    record = ResultRecord.load(tmp_path / "r.json")
    assert record.sensitivity["settings"][0]["name"] == "batch 1" and record.evaluation.changes is None


def test_the_leaderboard_shows_the_spread_beside_the_score(tmp_path):
    board = tmp_path / "leaderboards"
    shutil.copytree(leaderboards_dir(), board)
    (path,) = (board / "results").glob("synthetic__*.json")
    content = json.loads(path.read_text())
    content["sensitivity"] = {"spread": {"aflw2000": {"box and crop": [9.75, 11.5]}}}
    path.write_text(json.dumps(content))
    readme = build_files(board)["README.md"].decode()
    assert "(9.75–11.50)" in readme.split("## synthetic —")[1].split("\n## ")[0]
    content["sensitivity"] = {"spread": {"aflw2000": {"box and crop": [11.5, float("nan")]}}}
    path.write_text(json.dumps(content))
    with pytest.raises(HpbenchError, match="not \\[low, high\\] finite numbers"):
        build_files(board)
