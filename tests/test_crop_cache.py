"""The crop cache gives the bytes the uncached path gives, reads no image once built, and is rebuilt
when the boxes, the crop rule or the crop size change; items are uint8, normalised per batch exactly
as the per-item float path did."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from hpbench.data.augment import PoseAugmentation
from hpbench.data.headpose import dataset_for
from hpbench.data.transforms import Preprocessing, _formula
from hpbench.format import HPFile
from hpbench.models import create_model
from hpbench.protocols import load_protocol, select
from hpbench.resources import cache_dir
from tests.conftest import run_cli, said


def _protocol(folder: Path, crop: str = "kd", input_size: int = 48) -> Path:
    path = folder / f"cache-{crop}-{input_size}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "cache-check", "version": 1, "changelog": [{"version": 1}], "task": "headpose", "crop": crop,
        "input_size": input_size, "metrics": ["mae"], "filter": {"limit": 99},
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    return path


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A cache per test: copies of one file share crops (the key is the content), tests must not."""
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def data_dir(prepared_aflw2000, tmp_path) -> Path:
    """A private copy of the prepared synthetic AFLW2000 file (the tests rewrite its boxes)."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(prepared_aflw2000, folder / "aflw2000.h5")
    return folder


@pytest.fixture
def decodes(monkeypatch) -> list:
    """The indices of the images decoded (in this process) since the test began."""
    seen = []
    original = HPFile.image

    def counting(self, index):
        seen.append(index)
        return original(self, index)

    monkeypatch.setattr(HPFile, "image", counting)
    return seen


def _dataset(data_dir: Path, crop: str = "kd", input_size: int = 48, cache: bool = True, **options):
    protocol = load_protocol(_protocol(data_dir.parent, crop, input_size))
    (selection,) = select(protocol, "test", data_dir)
    return dataset_for(selection, protocol.crop, Preprocessing(input_size=input_size), cache=cache, progress=False,
                       **options)


def _cache_files() -> set[str]:
    return {p.name for p in (cache_dir() / "crops").glob("*.npy")}


def test_uint8_items_normalise_to_the_float_path_exactly():
    """Per batch, (x / 255 − mean) / std gives the bits the per-item numpy path gave, by look-up on
    the CPU and by arithmetic on other devices (run here on the CPU)."""
    rng = np.random.default_rng(0)
    for colour in ("rgb", "bgr"):
        preprocessing = Preprocessing(colour=colour, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
        crops = [rng.integers(0, 256, (31, 29, 3), dtype=np.uint8) for _ in range(5)]
        batch = torch.stack([preprocessing.to_uint8(c) for c in crops])
        assert batch.dtype == torch.uint8 and batch.shape == (5, 3, 31, 29)
        for crop, normalised in zip(crops, preprocessing.normalise(batch)):
            ordered = crop[..., ::-1] if colour == "rgb" else crop
            expected = (ordered.astype(np.float32) / 255.0 - np.float32(preprocessing.mean)) / np.float32(
                preprocessing.std)
            assert torch.equal(normalised, torch.from_numpy(np.ascontiguousarray(expected.transpose(2, 0, 1))))
        assert torch.equal(_formula(batch, preprocessing.mean, preprocessing.std), preprocessing.normalise(batch))
    with pytest.raises(TypeError, match="uint8"):
        preprocessing.normalise(batch.float())


def test_image_rows_read_low_level_are_the_stored_bytes(prepared_aflw2000):
    import h5py

    data = HPFile(prepared_aflw2000)
    with h5py.File(prepared_aflw2000, "r") as handle:
        stored = handle["image/encoded"]
        assert all(data.encoded_image(i) == stored[i].tobytes() for i in range(len(data)))
        assert data.encoded_image(-1) == stored[len(data) - 1].tobytes()
    with pytest.raises(IndexError):
        data.image(len(data))


def test_cached_items_equal_uncached_and_read_no_image(data_dir, decodes):
    augment = PoseAugmentation(crop_margin=6)
    for options in ({"augment": augment, "seed": 3}, {"pad": 5}, {}):
        plain = _dataset(data_dir, cache=False, **options)
        assert plain.crops is None
        cached = _dataset(data_dir, **options)
        assert cached.crops is not None and len(cached.crops) == len(plain)
        decodes.clear()
        again = _dataset(data_dir, **options)  # the cache exists: nothing is decoded
        for epoch in (0, 1):
            plain.set_epoch(epoch)
            again.set_epoch(epoch)
            for position in range(len(plain)):
                ours, theirs = again[position], plain[position]
                assert torch.equal(ours["image"], theirs["image"]) and ours["flipped"] == theirs["flipped"]
                assert torch.equal(ours["ypr"], theirs["ypr"])
        assert len(decodes) == len(plain) * 2  # the uncached dataset's two epochs only
        assert again.crops.path == cached.crops.path


def test_cache_rebuilt_when_crop_size_or_boxes_change(data_dir, decodes, capsys):
    first = _dataset(data_dir)
    count = len(first)
    assert len(decodes) == count
    other_rule = _dataset(data_dir, crop="square")
    other_size = _dataset(data_dir, input_size=40)
    assert len(decodes) == 3 * count
    paths = {first.crops.path, other_rule.crops.path, other_size.crops.path}
    assert len(paths) == 3 and {p.name for p in paths} <= _cache_files()

    # new landmark boxes, through the CLI: the file's content changes, every cache of it is rebuilt
    boxes = HPFile(data_dir / "aflw2000.h5").box("landmarks")
    keys = HPFile(data_dir / "aflw2000.h5").keys
    moved = {str(k): [{"bbox": [float(v) + 3.0 for v in box]}] for k, box in zip(keys, boxes)}
    (data_dir.parent / "moved.json").write_text(json.dumps(moved))
    code, _, err = run_cli(capsys, "bboxes", "import", "aflw2000", "--data", data_dir, "--kd-json",
                           data_dir.parent / "moved.json", "--name", "landmarks", "--replace")
    assert code == 0, err
    decodes.clear()
    rebuilt = _dataset(data_dir)
    assert len(decodes) == count and rebuilt.crops.path not in paths
    assert not any(p.exists() for p in paths)  # made from the old content: removed
    uncached = _dataset(data_dir, cache=False)
    assert all(torch.equal(rebuilt[i]["image"], uncached[i]["image"]) for i in range(count))


def test_damaged_cache_is_rebuilt(data_dir, decodes):
    path = _dataset(data_dir).crops.path
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)  # an interrupted copy, a full disk
    decodes.clear()
    again = _dataset(data_dir)
    assert len(decodes) == len(again) and again.crops.path == path
    assert again[0]["image"].shape == (3, 48, 48)


def test_no_cache_for_random_rules_or_a_full_disk(data_dir, monkeypatch):
    with said() as lines:
        assert _dataset(data_dir, crop="hopenet-300wlp").crops is None
    assert "draws a new region" in lines[-1]
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10, used=10, free=0))
    with said() as lines:
        assert _dataset(data_dir).crops is None
    assert "GB free; reading uncached" in lines[-1]


def test_no_cache_where_the_cache_folder_cannot_be_written(data_dir, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "a-file"))
    with said() as lines:
        dataset = _dataset(data_dir)
    assert dataset.crops is None and "is not writable" in lines[-1]
    assert dataset[0]["image"].shape == (3, 48, 48)


def test_evaluate_no_cache_flag(data_dir, tmp_path, capsys):
    """``--no-cache`` leaves the cache alone; the default fills it; the scores are the same."""
    weights = tmp_path / "model.pth"
    torch.manual_seed(0)
    torch.save(create_model("kd_student.resnet18").state_dict(), weights)
    protocol = _protocol(tmp_path, "square", 40)
    before = _cache_files()
    scores = []
    for flags in (["--no-cache"], []):
        code, out, err = run_cli(capsys, "evaluate", weights, "--arch", "kd_student.resnet18", "--protocol", protocol,
                                 "--data", data_dir, "--workers", "0", "--out", tmp_path / "r.json", *flags)
        assert code == 0, err
        scores.append(json.loads((tmp_path / "r.json").read_text())["results"]["aflw2000"]["metrics"])
        if flags:
            assert _cache_files() == before
    assert len(_cache_files()) == len(before) + 1 and scores[0] == scores[1]
    assert "crop cache:" in out
