"""HMTL: exact pretext transforms, the network's branches, AdaBelief's update rule, fine-tuning from a
checkpoint, and (slow) that the pretext heads and the pose heads learn on synthetic heads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from hpbench.data.pretext import Pretext, PretextTargets
from hpbench.errors import HpbenchError
from hpbench.models import create_model
from hpbench.training.optim import AdaBelief, build_optimizer
from tests.conftest import run_cli


def _image(size, seed=0):
    return torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("task", ["puzzle", "rotation", "puzzle-rotation"])
@pytest.mark.parametrize("grid, size", [(2, 64), (3, 224), (3, 65), (2, 33)])
def test_undoing_the_labels_restores_the_crop_pixel_for_pixel(task, grid, size):
    pretext = Pretext(task, grid)
    image = _image(size)
    for seed in range(5):
        labels = pretext.draw(np.random.default_rng(seed))
        transformed = pretext.apply(image, labels)
        assert torch.equal(pretext.undo(transformed, labels), image)
        if not torch.equal(transformed, image):
            assert not torch.equal(pretext.undo(transformed, pretext.draw(np.random.default_rng(seed + 100))), image)


def test_224_with_3x3_tiles_of_74_pixels_and_the_margin_left_in_place():
    pretext = Pretext("puzzle", 3)
    assert pretext.tiling(224) == (74, 1)  # 3 × 74 = 222: one row/column before, one after
    image = _image(224)
    labels = {"position": np.array([8, 7, 6, 5, 4, 3, 2, 1, 0])}
    out = pretext.apply(image, labels)
    # region 0 (rows 1–74, columns 1–74) holds original tile 8 (rows 149–222, columns 149–222)
    assert torch.equal(out[:, 1:75, 1:75], image[:, 149:223, 149:223])
    assert torch.equal(out[:, 75:149, 1:75], image[:, 75:149, 149:223])  # region 3 ← tile 5
    for margin in (np.s_[:, 0, :], np.s_[:, 223, :], np.s_[:, :, 0], np.s_[:, :, 223]):
        assert torch.equal(out[margin], image[margin])


def test_rotation_labels_are_quarter_turns_counter_clockwise():
    pretext = Pretext("rotation", 2)
    image = _image(8)
    out = pretext.apply(image, {"rotation": np.array([1, 0, 0, 2])})
    tile = image[:, :4, :4]
    assert torch.equal(out[:, :4, :4], torch.rot90(tile, 1, dims=(1, 2)))
    assert torch.equal(out[:, :4, :4][:, 0, :], tile[:, :, -1])  # the top row is the old right column
    assert torch.equal(out[:, 4:, 4:], torch.flip(image[:, 4:, 4:], dims=(1, 2)))
    assert torch.equal(out[:, :4, 4:], image[:, :4, 4:])


def test_puzzle_rotation_turns_at_most_two_tiles_and_labels_are_a_permutation():
    pretext = Pretext("puzzle-rotation", 3)
    for seed in range(50):
        labels = pretext.draw(np.random.default_rng(seed))
        assert sorted(labels["position"]) == list(range(9))
        assert (labels["rotation"] != 0).sum() <= 2 and set(labels["rotation"]) <= {0, 1, 2, 3}
    assert Pretext("puzzle", 3).heads == {"position": 9} and Pretext("puzzle-rotation", 2).heads == \
        {"position": 4, "rotation": 4}
    with pytest.raises(HpbenchError, match="one of puzzle, rotation, puzzle-rotation"):
        Pretext("jigsaw", 3)


def test_pretext_targets_are_seeded_by_seed_epoch_and_sample():
    items = [{"image": _image(32, seed=i)} for i in range(4)]
    data = PretextTargets(items, Pretext("puzzle", 3), seed=5)

    def labels(dataset, epoch):
        dataset.set_epoch(epoch)
        return [dataset[i]["pretext_position"].tolist() for i in range(4)]

    first = labels(data, 0)
    assert first == labels(PretextTargets(items, Pretext("puzzle", 3), seed=5), 0)
    assert first != labels(data, 1) and first != labels(PretextTargets(items, Pretext("puzzle", 3), seed=6), 0)
    assert len({tuple(x) for x in first}) > 1  # samples differ within an epoch


def test_hmtl_branches_and_what_evaluation_sees():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 64, 64)
    model = create_model("hmtl.resnet18", input_size=64, flag_point=2, pretext="puzzle-rotation", grid=2)
    outputs = model(images)
    assert outputs["pose"].shape == (2, 3, 66) and outputs["position"].shape == (2, 4, 4)
    assert outputs["rotation"].shape == (2, 4, 4)
    assert model.pretext_branch.block.conv3.out_channels == 128  # ResNet-18's block 2 width, identity skip
    model.eval()
    assert set(model(images)) == {"pose"}  # the pretext branch is not run at test time
    torch.testing.assert_close(model.predict(images), model.head.decode(model(images)["pose"], "centre"))
    plain = create_model("hmtl.resnet18", input_size=64, pretext=None)
    ablation = create_model("hmtl.resnet18", input_size=64, pretext_heads=False)
    assert plain.pretext_branch is None and plain.training_transform() is None
    assert ablation.pretext_branch is None and ablation.training_transform() == Pretext("puzzle", 3)
    # the pose path holds the same tensors in all three: a model trained with pretext heads evaluates as SL
    pose_keys = {k for k in model.state_dict() if not k.startswith("pretext_branch.")}
    assert pose_keys == set(plain.state_dict())
    xgaze = create_model("hmtl.resnet18", input_size=64, head="regression").eval()
    assert xgaze.predict(images).shape == (2, 2) and xgaze.convention == "eth-xgaze" and xgaze.rvc_head is None
    with pytest.raises(HpbenchError, match="after ResNet block 1, 2, 3 or 4"):
        create_model("hmtl.resnet18", flag_point=5)


def test_adabelief_follows_its_published_update_rule():
    """Zhuang et al. 2020, Algorithm 2, written again in float64 numpy: m ← β₁m + (1−β₁)g,
    s ← β₂s + (1−β₂)(g−m)² + ε, θ ← θ − α m/(1−β₁ᵗ) / (√(s/(1−β₂ᵗ)) + ε); decoupled decay
    θ ← θ(1−αλ)."""
    lr, (b1, b2), eps, decay = 0.01, (0.9, 0.999), 1e-8, 0.1
    target = np.array([1.0, -2.0, 0.5])
    theta = np.array([0.3, 0.1, -0.4])
    parameter = torch.nn.Parameter(torch.tensor(theta, dtype=torch.float64))
    optimizer = AdaBelief([parameter], lr=lr, eps=eps, weight_decay=decay)
    m, s = np.zeros(3), np.zeros(3)
    for t in range(1, 31):
        g = 2 * (theta - target) * np.array([1.0, 3.0, 0.2])
        theta = theta * (1 - lr * decay)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        theta = theta - lr * (m / (1 - b1 ** t)) / (np.sqrt(s / (1 - b2 ** t)) + eps)
        optimizer.zero_grad()
        (((parameter - torch.tensor(target)) ** 2) * torch.tensor([1.0, 3.0, 0.2])).sum().backward()
        optimizer.step()
        # float64, in another order of operations
        np.testing.assert_allclose(parameter.detach().numpy(), theta, rtol=0, atol=1e-10)
    assert isinstance(build_optimizer({"all": [parameter]}, {"name": "adabelief", "lr": 1e-3}), AdaBelief)


def test_fine_tuning_copies_every_tensor_that_fits(tmp_path):
    from hpbench.models.checkpoint import Checkpoint, read_torch_file
    from hpbench.training.train import fine_tune_from

    torch.manual_seed(0)
    pretrained = create_model("hmtl.resnet18", input_size=32, pretext="puzzle", grid=2)
    Checkpoint.of_model(pretrained).save(tmp_path / "ssl.pt")
    torch.manual_seed(1)
    target = create_model("hmtl.resnet18", input_size=32, pretext="puzzle", grid=3, bin_size=1)
    messages = []
    fine_tune_from(target, read_torch_file(tmp_path / "ssl.pt"), tmp_path / "ssl.pt", messages.append)
    state, source = target.state_dict(), pretrained.state_dict()
    assert torch.equal(state["backbone.model.layer2.0.conv1.weight"], source["backbone.model.layer2.0.conv1.weight"])
    assert torch.equal(state["pretext_branch.block.conv1.weight"], source["pretext_branch.block.conv1.weight"])
    assert not torch.equal(state["head.yaw.weight"][:1], source["head.yaw.weight"][:1])  # 198 bins vs 66: kept
    assert "keep their initial values" in messages[0]
    other = create_model("kd_student.resnet50", input_size=32)
    with pytest.raises(HpbenchError, match="no tensor of this checkpoint fits"):
        fine_tune_from(other, read_torch_file(tmp_path / "ssl.pt"), tmp_path / "ssl.pt", messages.append)


def _protocol(path, dataset, **extra):
    path.write_text(yaml.safe_dump({
        "name": f"hmtl-{dataset}", "version": 1, "changelog": [{"version": 1}], "task": "headpose", "crop": "kd",
        "input_size": 32, "metrics": ["mae"], "filter": {"limit": 99}, **extra,
        "splits": {split: [{"dataset": dataset, "select": "all", "boxes": box, "reference": box}]
                   for split in ("train", "test") for box in [{"xgaze": "patch"}.get(dataset, "landmarks")]},
    }))
    return path


SMALL = ["--set", "arch=hmtl.resnet18", "--set", "model.input_size=32", "--set", "batch_size=8", "--set", "epochs=1",
         "--workers", "0"]


def test_ssl_pretraining_then_fine_tuning_and_evaluation_through_the_cli(prepared_300w_lp, tmp_path, capsys):
    protocol = _protocol(tmp_path / "p.yaml", "300w_lp")
    data = prepared_300w_lp.parent
    code, out, err = run_cli(capsys, "train", "hmtl-ssl-pretrain", "--protocol", protocol, "--data", data,
                             "--out", tmp_path / "ssl", *SMALL)
    assert code == 0, err
    code, out, err = run_cli(capsys, "train", "hmtl-puzzle3x3", "--protocol", protocol, "--data", data, "--out",
                             tmp_path / "tuned", "--pretrained", tmp_path / "ssl" / "model.pt", *SMALL,
                             "--set", "model.grid=2")
    assert code == 0, err
    assert "tensors from" in out and "keep their initial values" in out
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "tuned" / "model.pt", "--protocol", protocol, "--data",
                             data, "--workers", "0", "--out", tmp_path / "record.json")
    assert code == 0, err
    assert "300w_lp" in out


def test_the_xgaze_recipe_trains_regression_heads_and_evaluates(prepared_xgaze, tmp_path, capsys):
    protocol = _protocol(tmp_path / "x.yaml", "xgaze", score_convention="eth-xgaze")
    data = prepared_xgaze.parent
    code, _, err = run_cli(capsys, "train", "hmtl-xgaze-puzzle2x2", "--protocol", protocol, "--data", data, "--out",
                           tmp_path / "run", *SMALL)
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "run" / "model.pt", "--protocol", protocol, "--data",
                             data, "--workers", "0", "--out", tmp_path / "record.json")
    assert code == 0, err
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["model"]["convention"] == "eth-xgaze" and record["results"]["xgaze"]["counts"]["evaluated"] == 90
