"""Contract tests, parametrised over every registry: a new converter, model, recipe, protocol, crop rule
or metric is tested here without new test code. And a dataset added as one new converter file is
picked up by prepare, verify, protocols, relabel and ``bboxes show`` with no other edit."""

from __future__ import annotations

import json
import sys
from collections import Counter

import numpy as np
import pytest
import torch

from hpbench.converters import CONVERTERS
from hpbench.converters.verify import verify_file
from hpbench.data.augment import PoseAugmentation
from hpbench.data.crops import CROP_RULES, crop_image
from hpbench.data.pretext import PretextTargets
from hpbench.format import HPFile
from hpbench.metrics import METRICS, compute_metrics
from hpbench.models import MODELS, create_model
from hpbench.pose import get_convention
from hpbench.protocols import SELECTION_RULES, list_protocols, load_protocol, select
from hpbench.training.losses import LOSSES
from hpbench.training.optim import build_optimizer, build_scheduler
from hpbench.training.recipe import load_recipe, recipe_names
from hpbench.training.headpose import AngleTargets
from hpbench.training.objective import Objective
from tests.conftest import WEIGHTS, run_cli

SYNTHETIC = [name for name, converter in CONVERTERS.items() if converter.synthetic is not None]


# ---------------------------------------------------------------------------------------------- converters


def check_against_truth(data: HPFile, records) -> None:
    """Every label a synthetic writer wrote comes out of the converter as it went in."""
    expected = {r.key: r for r in records if not r.excluded}
    assert sorted(data.keys) == sorted(expected)
    for i, key in enumerate(data.keys):
        record = expected[key]
        if record.ypr is not None:
            np.testing.assert_allclose(data.ypr[i], record.ypr, atol=1e-4, equal_nan=True)
        if record.landmarks is not None:
            np.testing.assert_allclose(data.landmarks[i], record.landmarks, atol=1e-3, equal_nan=True)
        for source, box in record.boxes.items():
            np.testing.assert_allclose(data.box(source)[i], box, atol=1e-3, equal_nan=True)
        if record.joints is not None:
            np.testing.assert_allclose(data.joints[i], record.joints, atol=1e-4, equal_nan=True)
            np.testing.assert_array_equal(data.joints_visible[i], record.visible)
        if record.center is not None:
            np.testing.assert_allclose(data.person_center[i], record.center, atol=1e-4)
            assert data.person_scale[i] == pytest.approx(record.scale, abs=1e-5)
        for name, value in record.meta.items():
            stored = data.meta(name)[i]
            assert stored == pytest.approx(value, abs=1e-6) if isinstance(value, float) else stored == value, name


@pytest.mark.parametrize("dataset", SYNTHETIC)
def test_every_converter_round_trips_its_synthetic_sample(dataset, request):
    _, records = request.getfixturevalue(f"synth_{dataset}")
    path = request.getfixturevalue(f"prepared_{dataset}")
    data = HPFile(path)
    check_against_truth(data, records)
    report = json.loads(path.with_suffix(".prepare.json").read_text())
    assert Counter(e["why"] for e in report["excluded"]) == Counter(r.excluded for r in records if r.excluded)
    assert report["written"] == len(data) == report["found"] - sum(e["samples"] for e in report["skipped"])
    assert data.image(0).shape[:2] == tuple(data.image_sizes[0]) and data.layout.dataset == dataset
    verification = verify_file(path)
    assert verification.ok, [c for c in verification.checks if c.status == "fail"]


@pytest.mark.parametrize("dataset", CONVERTERS.names())
def test_every_converter_declares_what_later_steps_read(dataset):
    converter = CONVERTERS.get(dataset)
    assert converter.citation and converter.published and converter.read.__module__.startswith("hpbench.converters.")
    doc = sys.modules[converter.read.__module__].__doc__
    assert "--src" in doc  # the docstring draws the expected raw folder
    if converter.face_anchor is not None:
        assert converter.reference_box is not None


# ---------------------------------------------------------------------------------------------- models


# what a model needs besides its input size: a searched head is built on a named backbone cut
REQUIRED_CONFIG = {"searched.head": {"backbone": {"arch": "hopenet.resnet18"}, "layer": "backbone.model.layer2",
                                     "genome": [0.5] * 13, "in_channels": 128}}


@pytest.mark.parametrize("name", MODELS.names())
def test_every_registered_model(name):
    torch.manual_seed(0)
    config = {"input_size": 32, **REQUIRED_CONFIG.get(name, {})}
    model = create_model(name, **config)
    images = torch.randn(2, 3, 32, 32)
    outputs = model(images)
    tensors = outputs.values() if isinstance(outputs, dict) else [outputs]
    sum(t.float().square().mean() for t in tensors).backward()  # every output reaches every parameter
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    groups = model.parameter_groups()
    assert sorted(id(p) for ps in groups.values() for p in ps) == sorted(id(p) for p in model.parameters())
    model.eval()
    with torch.no_grad():
        angles = model.predict(images)
    if model.task == "bodypose":  # belief maps per stage at stride 8; joints in input pixels
        assert outputs.shape[1:] == (2, model.maps, 4, 4) and angles.shape == (2, model.joints, 2)
        assert ((angles >= 0) & (angles <= 32)).all()
    else:
        convention = get_convention(model.convention)  # every head-pose model names a known convention
        assert angles.shape == (2, *convention.value_shape) and torch.isfinite(angles).all()
    assert model.arch == name and model.preprocessing.input_size == 32
    clone = create_model(name, **config)
    clone.load_state_dict(model.state_dict())  # the state dict names are stable
    if model.rvc_head is not None:  # RvC models: bins, logits and the decoding of averaged probabilities
        with torch.no_grad():
            logits = model.rvc_logits(images)
        assert angles.shape == (2, 3) and angles.abs().max() < 100
        assert logits.shape[:2] == (2, 3) and logits.shape[2] == model.rvc_head.bins
        torch.testing.assert_close(model.decode_probabilities(torch.softmax(logits, -1)), angles)


# ---------------------------------------------------------------------------------------------- recipes


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_builds_and_takes_a_step(name):
    _take_a_step(name)


@pytest.mark.parametrize("flag_point", [1, 2, 3, 4])
@pytest.mark.parametrize("task", ["puzzle", "rotation", "puzzle-rotation"])
def test_every_hmtl_flag_point_and_task_takes_a_step(flag_point, task):
    _take_a_step("hmtl-puzzle3x3", f"model.flag_point={flag_point}", f"model.pretext={task}")


def _take_a_step(name, *overrides):
    recipe = load_recipe(name, ("model.input_size=32", *overrides))
    assert recipe.source and recipe.epochs > 0 and recipe.batch_size > 0
    model = create_model(recipe.arch, **recipe.model)
    if model.task == "bodypose":
        return _take_a_body_step(recipe, model)
    loss = LOSSES.get(recipe.loss["name"])(model, **{k: v for k, v in recipe.loss.items() if k != "name"})
    optimizer = build_optimizer(model.parameter_groups(), recipe.optimizer)
    build_scheduler(optimizer, recipe.scheduler)
    PoseAugmentation(**recipe.augment)
    if recipe.crop:
        CROP_RULES.get(recipe.crop)
    batch = {"image": torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8),
             "ypr": torch.tensor([[10.0, -20.0, 5.0], [-30.0, 15.0, 0.0]])}
    if recipe.teacher:
        assert recipe.teacher["checkpoint"] and model.rvc_head is not None
        batch["teacher"] = torch.softmax(torch.randn(2, 3, model.rvc_head.bins), -1)
    pretext = model.training_transform()
    if pretext is not None:  # what hpbench train's PretextTargets adds to each item
        items = [PretextTargets([{"image": image}], pretext)[0] for image in batch["image"]]
        batch = {**batch, **{key: torch.stack([item[key] for item in items]) for key in items[0]}}
    value = Objective(loss, model.preprocessing, AngleTargets(model.convention))(model, batch, "cpu")
    optimizer.zero_grad()
    value.backward()
    optimizer.step()
    assert torch.isfinite(value)


def _take_a_body_step(recipe, model):
    """A body-pose recipe's step on the batch hpbench.training.bodypose's Datasets give."""
    from hpbench.data.bodypose import BodyAugmentation
    from hpbench.data.jigsaw import JigsawPuzzles, position_heatmaps
    from hpbench.models.cpm import TRANSFER_LAYERS
    from hpbench.training.recipe import checked_keywords

    assert LOSSES.get(recipe.loss["name"]).task == model.task
    if recipe.augment is not None:
        BodyAugmentation(**recipe.augment)
    if recipe.transfer is not None:
        assert recipe.transfer["layers"] in TRANSFER_LAYERS and isinstance(recipe.transfer["fixed"], bool)
    if recipe.early_stopping is not None:
        assert recipe.early_stopping["patience"] > 0
    batch = {"image": torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)}
    if recipe.jigsaw is not None:
        checked_keywords("jigsaw", JigsawPuzzles, recipe.jigsaw)
        perms = torch.stack([torch.randperm(9) for _ in range(2)])
        batch.update(perm=perms, heatmaps=torch.stack([torch.from_numpy(position_heatmaps(p.numpy(), 4)) for p in perms]))
    else:
        batch["heatmaps"] = torch.rand(2, model.maps, 4, 4)
    optimizer = build_optimizer(model.parameter_groups(), recipe.optimizer)
    value = Objective(LOSSES.get(recipe.loss["name"])(model), model.preprocessing)(model, batch, "cpu")
    optimizer.zero_grad()
    value.backward()
    optimizer.step()
    assert torch.isfinite(value)


# ---------------------------------------------------------------------------------------------- protocols


@pytest.mark.parametrize("name", [p.name for p in list_protocols()])
def test_every_protocol_names_what_exists(name):
    protocol = load_protocol(name)
    CROP_RULES.get(protocol.crop)
    assert protocol.metrics and all(METRICS.get(text.split("@")[0]).task == protocol.task for text in protocol.metrics)
    for split, entries in protocol.splits.items():
        for entry in entries:
            converter = CONVERTERS.get(entry.dataset)
            SELECTION_RULES.get(entry.select["rule"])
            if protocol.task == "headpose":
                assert entry.boxes and entry.reference, (split, entry.dataset)
                assert converter.reference_box is not None
    for split, counts in protocol.published_counts.items():
        assert set(counts) <= {e.dataset for e in protocol.entries(split)}


# ---------------------------------------------------------------------------------------------- crop rules


@pytest.mark.parametrize("name", CROP_RULES.names())
def test_every_crop_rule_covers_the_box_centre(name):
    rule = CROP_RULES.get(name)
    image = np.random.default_rng(0).integers(0, 255, (120, 100, 3), dtype=np.uint8)
    box = np.array([20.5, 30.2, 70.9, 95.4])
    x1, y1, x2, y2 = rule.region(box, image.shape[:2])
    assert all(isinstance(v, int) for v in (x1, y1, x2, y2)) and x1 < x2 and y1 < y2
    assert x1 <= (box[0] + box[2]) / 2 <= x2 and y1 <= (box[1] + box[3]) / 2 <= y2
    crop = crop_image(image, box, rule, 48)
    assert crop.shape == (48, 48, 3) and crop.dtype == np.uint8


# ---------------------------------------------------------------------------------------------- metrics


def _metric_inputs(task: str, noise: float):
    rng = np.random.default_rng(1)
    if task == "headpose":
        truth = rng.uniform(-80, 80, (50, 3))
        return truth + noise * rng.normal(size=truth.shape), truth, {}
    truth = rng.uniform(0, 200, (20, 16, 2))
    heads = np.concatenate([truth[:, 9] - 15, truth[:, 9] + 15], axis=1)
    return (truth + noise * 10 * rng.normal(size=truth.shape), truth,
            {"head_boxes": heads})


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_is_perfect_on_the_truth_and_worse_with_noise(name):
    metric = METRICS.get(name)
    text = f"{name}@0.5" if metric.parameter else name
    perfect = compute_metrics([text], *_metric_inputs(metric.task, 0.0)[:2], **_metric_inputs(metric.task, 0.0)[2])
    noisy = compute_metrics([text], *_metric_inputs(metric.task, 5.0)[:2], **_metric_inputs(metric.task, 5.0)[2])
    best = 0.0 if metric.task == "headpose" else 1.0
    assert perfect and all(value == pytest.approx(best, abs=1e-4) for value in perfect.values())
    assert all(abs(noisy[k] - best) > 1e-3 for k in perfect)


# ---------------------------------------------------------------------------------------------- one new file

FAKE_CONVERTER = '''"""A tiny face dataset, only for the test that one file adds a dataset.

Expected folder (``--src``)::

    fake/
      labels.csv    image,yaw,pitch,roll,x1,y1,x2,y2
      images/face0.png …
"""

import csv

import numpy as np

from hpbench.converters import Converter, SourceItem, Sources, register
from hpbench.converters.counts import PublishedCount, count_samples
from hpbench.converters.images import read_image_file
from hpbench.errors import NotTheDataset
from hpbench.format import Layout, Sample

LAYOUT = Layout(dataset="fakeface", box_sources=("given",))


def find_sources(src):
    if not (src / "labels.csv").is_file():
        raise NotTheDataset(f"{src}: no labels.csv")
    with open(src / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return Sources(LAYOUT, [SourceItem(row["image"], (str(src / "images" / row["image"]),), row) for row in rows])


def read(item):
    data, fmt, height, width = read_image_file(item.paths[0])
    row = item.info
    return Sample(key=item.key, image=data, image_format=fmt, height=height, width=width,
                  ypr=np.array([float(row[k]) for k in ("yaw", "pitch", "roll")]),
                  boxes={"given": np.array([float(row[k]) for k in ("x1", "y1", "x2", "y2")])})


register(Converter(name="fakeface", find_sources=find_sources, read=read, citation="hpbench's test",
                   published=(PublishedCount("samples", 6, count_samples),), reference_box="given"))
'''


@pytest.fixture
def fake_converter(tmp_path, monkeypatch):
    """``fakeface.py`` dropped into a folder of the converters package, as a contributor would add it."""
    import hpbench.converters

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "fakeface.py").write_text(FAKE_CONVERTER)
    monkeypatch.setattr(hpbench.converters, "__path__", [*hpbench.converters.__path__, str(folder)])
    monkeypatch.setattr(CONVERTERS, "_entries", dict(CONVERTERS._entries))
    CONVERTERS.discover()
    yield
    sys.modules.pop("hpbench.converters.fakeface", None)


def _fake_raw(folder):
    import cv2

    from hpbench.synth.scene import render_face_image

    (folder / "images").mkdir(parents=True)
    lines = ["image,yaw,pitch,roll,x1,y1,x2,y2"]
    for i in range(6):
        image, labels = render_face_image(np.random.default_rng(i), (20.0 * i - 50, 10.0, -5.0), 160)
        cv2.imwrite(str(folder / "images" / f"face{i}.png"), image)
        lines.append(",".join([f"face{i}.png", *(f"{v:.4f}" for v in (*labels.ypr, *labels.head_box))]))
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.usefixtures("private_cache", "no_network")
def test_a_converter_file_is_all_a_new_dataset_needs(fake_converter, tmp_path, capsys):
    _fake_raw(tmp_path / "raw")
    data = tmp_path / "data"
    code, out, err = run_cli(capsys, "prepare", "fakeface", "--src", tmp_path / "raw", "--out", data)
    assert code == 0 and "wrote 6 samples of 6 published" in out, err
    code, out, _ = run_cli(capsys, "verify", data / "fakeface.h5")
    assert code == 0 and "samples vs published" in out and "FAIL" not in out
    protocol = tmp_path / "fake.yaml"
    protocol.write_text(json.dumps({"name": "fake", "version": 1, "task": "headpose", "crop": "kd", "metrics": ["mae"],
                                    "splits": {"test": [{"dataset": "fakeface", "boxes": "yolo"}]}}))
    (selection,) = select(load_protocol(protocol), "test", data)
    assert selection.entry.reference == "given" and selection.counts["selected"] == 6
    selection.data.close()  # relabel writes into the file
    code, out, err = run_cli(capsys, "bboxes", "relabel", "fakeface", "--weights", WEIGHTS, "--data", data, "--out",
                             tmp_path / "bboxes")
    assert code == 0 and "fakeface:" in out, err
    status = HPFile(data / "fakeface.h5").box_status("yolo")
    assert len(status) == 6 and (status == "detected").sum() >= 5
    code, out, err = run_cli(capsys, "bboxes", "show", "fakeface", "--data", data, "--out", tmp_path / "boxes.png")
    assert code == 0 and (tmp_path / "boxes.png").is_file(), err
