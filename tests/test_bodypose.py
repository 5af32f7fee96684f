"""Body pose: exact crop and augmentation geometry, CPM's targets, shapes and losses, jigsaw puzzles, the
transfer rule, and evaluation through the CLI on synthetic people."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from hpbench.data.bodypose import (
    BodyAugmentation,
    BodyPoseDataset,
    augmentation_matrix,
    crop_matrix,
    decode_heatmaps,
    heatmaps,
    mirror_pairs,
    transform_points,
)
from hpbench.data.jigsaw import JigsawPuzzles, derangement, position_centres, position_heatmaps, puzzle
from hpbench.data.transforms import Preprocessing
from hpbench.models import create_model
from hpbench.models.cpm import CHANGED_LAYERS, centre_map, transferable
from hpbench.skeletons import LSP14
from hpbench.training.bodypose import tiles_placed
from hpbench.training.losses import position_cross_entropy, position_logits
from hpbench.training.losses import belief_map_loss
from tests.conftest import run_cli


def test_crop_matrix_hand_worked():
    # centre (100, 50), scale 1: a 200-px square to 368 px, the centre to the crop's centre 183.5
    matrix = crop_matrix((100, 50), 1.0, 368)
    assert np.allclose(transform_points(matrix, [[100, 50], [0, 50], [100, 150]]),
                       [[183.5, 183.5], [183.5 - 184, 183.5], [183.5, 183.5 + 184]], atol=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_crop_augment_inverse_restores_the_joints(seed):
    rng = np.random.default_rng(seed)
    joints = rng.uniform(0, 400, (14, 2))
    zoom, degrees, mirrored = BodyAugmentation().draw(rng)
    matrix = augmentation_matrix(368, zoom, degrees, mirrored) @ crop_matrix(rng.uniform(100, 300, 2),
                                                                              rng.uniform(0.5, 3), 368)
    order = mirror_pairs(LSP14)
    moved = transform_points(matrix, joints)
    moved = moved[order] if mirrored else moved
    back = transform_points(np.linalg.inv(matrix), moved[order] if mirrored else moved)
    assert np.abs(back - joints).max() < 1e-4


def test_the_warped_image_and_the_moved_joint_agree():
    image = np.zeros((300, 400, 3), np.uint8)
    cv2.circle(image, (250, 120), 4, (255, 255, 255), -1)
    matrix = augmentation_matrix(128, 1.2, 30, True) @ crop_matrix((200, 150), 1.1, 128)
    warped = cv2.warpAffine(image, matrix[:2], (128, 128), flags=cv2.INTER_LINEAR)[..., 0].astype(float)
    ys, xs = np.mgrid[:128, :128]
    centroid = np.array([(warped * xs).sum(), (warped * ys).sum()]) / warped.sum()
    assert np.abs(centroid - transform_points(matrix, [[250, 120]])[0]).max() < 0.2


def test_mirror_swaps_as_the_cpm_release():
    # Convolutional-Pose-Machines-Pytorch, Mytransforms.py, hflip: swap_pair [[0, 5], [1, 4], [2, 3], [6, 11],
    # [7, 10], [8, 9]] in LSP's joint order; neck and head top stay
    expected = np.arange(14)
    for a, b in ((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)):
        expected[a], expected[b] = b, a
    assert (mirror_pairs(LSP14) == expected).all()


def test_heatmaps_follow_the_release_rule():
    # lsp_lspet_data.py, guassian_kernel and LSP_Data.__getitem__: exp(−d² / 2σ²) on the 46 grid at the joint / 8,
    # values under 0.0099 set to 0, background = 1 − the joints' maximum (hpbench puts it last)
    joints = np.array([[80.0, 160.0], [np.nan, np.nan], [300.0, 20.0]])
    maps = heatmaps(joints, 368, 8, 3.0)
    assert maps.shape == (4, 46, 46) and maps.dtype == np.float32
    gy, gx = np.mgrid[:46, :46]
    reference = np.exp(-((gx - 10) ** 2 + (gy - 20) ** 2) / 18.0)
    reference[reference < 0.0099] = 0
    assert np.allclose(maps[0], reference, atol=1e-7) and maps[0, 20, 10] == 1
    assert not maps[1].any()  # a joint without coordinates has no peak
    assert np.allclose(maps[3], 1 - maps[:3].max(0)) and maps[3, 20, 10] == 0


def test_decoding_finds_the_peaks():
    joints = np.array([[80.0, 160.0], [203.0, 117.0], [8.0, 352.0]])
    maps = torch.from_numpy(heatmaps(joints, 368))[None, :3]
    assert torch.equal(decode_heatmaps(maps, 8, refine=False)[0], torch.tensor([[80.0, 160], [200, 120], [8, 352]]))
    refined = decode_heatmaps(maps, 8)[0].numpy()
    assert np.abs(refined - joints).max() < 0.5  # a parabola through a Gaussian's top: within 0.06 cells here


def test_cpm_shapes_at_368():
    model = create_model("cpm.6stage")
    assert centre_map(368).shape == (1, 1, 46, 46)
    with torch.no_grad():
        stages = model(torch.zeros(1, 3, 368, 368))
    assert stages.shape == (6, 1, 15, 46, 46)  # 46 × 46, not the 45 × 45 of ports without pool padding
    assert model.preprocessing.colour == "bgr" and model.preprocessing.mean[0] == pytest.approx(128 / 255)


def test_cpm_stage_count_and_predict():
    model = create_model("cpm.6stage", stages=2, input_size=64, width=0.125)
    with torch.no_grad():
        assert model(torch.zeros(3, 3, 64, 64)).shape == (2, 3, 15, 8, 8)
        assert model.predict(torch.zeros(3, 3, 64, 64)).shape == (3, 14, 2)
    with pytest.raises(ValueError, match="multiple of 8"):
        model(torch.zeros(1, 3, 60, 60))


def test_the_eleven_changed_layers_never_transfer():
    lsp = create_model("cpm.6stage", input_size=64, width=0.125).state_dict()
    jigsaw = create_model("cpm.6stage", joints=9, maps=10, input_size=64, width=0.125).state_dict()
    differ = {k for k in lsp if lsp[k].shape != jigsaw[k].shape}
    layers = {k.rsplit(".", 1)[0] for k in differ}
    assert len(layers) == 11 and all(any(p in f".{k}" for p in CHANGED_LAYERS) for k in differ)
    changed = {k for k in lsp if k.rsplit(".", 1)[0] in layers}  # a changed layer's bias stays behind too
    assert {k for k in lsp if transferable(k, "all")} == set(lsp) - changed
    assert {k for k in lsp if transferable(k, "stage1")} == {k for k in lsp if k.startswith("stage1.")}
    assert {k for k in lsp if transferable(k, "stage1+middle")} == {k for k in lsp if k.startswith(("stage1.", "trunk."))}


def test_belief_map_loss_is_the_release_unit():
    # cpm_train.py: loss_t = nn.MSELoss()(heat_t, target) × 46·46·15, summed over the six stages
    torch.manual_seed(0)
    stages, target = torch.rand(6, 4, 15, 46, 46), torch.rand(4, 15, 46, 46)
    release = sum(torch.nn.functional.mse_loss(s, target) * 46 * 46 * 15 for s in stages)
    torch.testing.assert_close(belief_map_loss(stages, target), release)
    assert belief_map_loss(stages, target, reduce=False).shape == (4,)


def test_derangements_move_every_tile():
    rng = np.random.default_rng(0)
    perms = np.stack([derangement(rng) for _ in range(500)])
    assert not (perms == np.arange(9)).any()
    assert (np.sort(perms, axis=1) == np.arange(9)).all()
    assert len({tuple(p) for p in perms}) > 400  # not a fixed handful


def test_puzzle_layout_and_labels():
    image = np.zeros((300, 330, 3), np.uint8)  # its centre square, 300 px, in 3 × 3 bands of colours
    for position in range(9):
        r, c = divmod(position, 3)
        image[r * 100:(r + 1) * 100, 15 + c * 100:15 + (c + 1) * 100] = (position * 25, 0, 255 - position * 25)
    perm = np.array([7, 4, 0, 8, 2, 6, 5, 1, 3])
    canvas = puzzle(image, perm, 368, gap=5)
    tile = (368 - 10) // 3  # 119
    for slot, source in enumerate(perm):
        r, c = divmod(slot, 3)
        middle = canvas[r * (tile + 5) + tile // 2, c * (tile + 5) + tile // 2]
        assert tuple(middle) == (source * 25, 0, 255 - source * 25)
    assert (canvas[tile + 2, :] == 128).all() and (canvas[:, 2 * tile + 7] == 128).all()  # the gaps stay grey
    assert position_centres(46).tolist() == [[r, c] for r in (8, 24, 39) for c in (8, 24, 39)]  # Table 3.4
    maps = position_heatmaps(perm, 46)
    assert maps.shape == (10, 46, 46) and maps[0, 39, 24] == 1  # slot 1 holds position 8: (39, 24)
    stages = torch.from_numpy(maps)[None, None]
    assert (tiles_placed(stages)[0].numpy() == perm).all()
    assert (position_logits(stages)[-1, 0].argmax(-1).numpy() == perm).all()
    wrong = position_cross_entropy(stages, torch.from_numpy(np.roll(perm, 1))[None])
    assert position_cross_entropy(stages, torch.from_numpy(perm)[None]) < wrong


def test_the_body_dataset_carries_exact_joints(prepared_lsp):
    from hpbench.format import HPFile

    data = HPFile(prepared_lsp)
    preprocessing = Preprocessing(input_size=64, colour="bgr")
    dataset = BodyPoseDataset(data, np.arange(len(data)), preprocessing, BodyAugmentation(), seed=3)
    for position in range(5):
        item = dataset[position]
        matrix, mirrored = dataset.item_matrix(position)
        joints = item["joints"].numpy().astype(np.float64)
        back = transform_points(np.linalg.inv(item["matrix"].numpy()), joints[dataset.mirror] if mirrored else joints)
        truth = dataset.truth_joints[position]
        assert np.nanmax(np.abs(back - truth)) < 1e-3  # float32 crop pixels
        assert item["image"].shape == (3, 64, 64) and item["heatmaps"].shape == (15, 8, 8)
    plain = BodyPoseDataset(data, np.arange(len(data)), preprocessing)
    crop = np.stack([plain[i]["joints"].numpy() for i in range(len(plain))]).astype(np.float64)
    assert np.nanmax(np.abs(plain.to_original(crop) - plain.truth_joints)) < 1e-3


def test_jigsaw_puzzles_dataset(prepared_mpii):
    from hpbench.format import HPFile

    data = HPFile(prepared_mpii)
    puzzles = JigsawPuzzles(data, np.arange(len(data)), Preprocessing(input_size=64), per_image=3)
    images = {str(k).split("#")[0] for k in data.keys}
    assert len(puzzles) == 3 * len(images)  # one set per image, not per person
    first, again = puzzles[4], puzzles[4]
    assert torch.equal(first["perm"], again["perm"]) and first["heatmaps"].shape == (10, 8, 8)
    assert not torch.equal(puzzles[3]["perm"], puzzles[4]["perm"]) or not torch.equal(puzzles[4]["perm"],
                                                                                     puzzles[5]["perm"])


def test_evaluate_a_body_pose_checkpoint_through_the_cli(prepared_lsp, tmp_path, capsys):
    from hpbench.models.checkpoint import Checkpoint

    data = tmp_path / "data"
    data.mkdir()
    (data / "lsp.h5").write_bytes(prepared_lsp.read_bytes())
    (data / "lspet.h5").write_bytes(prepared_lsp.read_bytes())  # evaluation reads only the test split
    torch.manual_seed(0)
    model = create_model("cpm.6stage", stages=2, input_size=128, width=0.125)
    path = tmp_path / "cpm.pt"
    Checkpoint.of_model(model).save(path)
    code, out, _ = run_cli(capsys, "evaluate", path, "--protocol", "synthetic-lsp", "--data", data, "--out",
                           tmp_path / "record.json", "--save-predictions", tmp_path / "predictions.csv",
                           "--analysis", tmp_path / "analysis", "--workers", "0")
    assert code == 0, out
    assert "PCK@0.2" in out and "per joint" in out and "right_ankle" in out
    record = json.loads((tmp_path / "record.json").read_text())
    result = record["results"]["lsp"]
    assert set(result["metrics"]) == {"pck@0.2", "loss"} and 0 <= result["metrics"]["pck@0.2"] <= 1
    assert set(result["per_joint"]["pck@0.2"]) == set(LSP14)
    assert (tmp_path / "analysis/synthetic-lsp-lsp-worst.png").stat().st_size > 1000
    lines = (tmp_path / "predictions.csv").read_text().splitlines()
    assert len(lines) == 1 + 14 * result["counts"]["evaluated"]
    assert record["evaluation"]["decode"] == "parabola" and "decoded by parabola" in out
    assert 0 <= result["mean_predictor_scores"]["pck@0.2"] <= 1
    assert "predicting the training crops' mean joints instead gives PCK@0.2" in out
    code, out, _ = run_cli(capsys, "evaluate", path, "--protocol", "synthetic-lsp", "--data", data, "--out",
                           tmp_path / "argmax.json", "--decode", "argmax", "--workers", "0")
    assert code == 0 and "decoded by argmax" in out
    assert json.loads((tmp_path / "argmax.json").read_text())["evaluation"]["decode"] == "argmax"
    code, _, err = run_cli(capsys, "evaluate", path, "--protocol", "synthetic", "--data", data, "--decode", "argmax")
    assert code != 0 and "--decode" in err and "head pose" in err


def test_the_mean_pose_baseline_is_the_training_crops_mean_joints(prepared_lsp, tmp_path):
    from hpbench.tasks.bodypose import mean_pose_scores
    from hpbench.metrics import pck
    from hpbench.protocols import load_protocol, select

    data = tmp_path / "data"
    data.mkdir()
    for name in ("lsp", "lspet"):  # the training split (lspet) is the same people here
        (data / f"{name}.h5").write_bytes(prepared_lsp.read_bytes())
    protocol, preprocessing = load_protocol("synthetic-lsp"), Preprocessing(input_size=96)
    (train,), (test,) = select(protocol, "train", data), select(protocol, "test", data)
    crops = BodyPoseDataset(train.data, train.indices, preprocessing)  # through the items, images and all
    mean = np.nanmean(np.stack([crops[i]["joints"].numpy().astype(np.float64) for i in range(len(crops))]), axis=0)
    tests = BodyPoseDataset(test.data, test.indices, preprocessing)
    expected = pck(tests.to_original(np.repeat(mean[None], len(tests), 0)), tests.truth_joints).mean
    scores, source = mean_pose_scores(protocol, data, [tests])
    assert scores["lsp"]["pck@0.2"] == pytest.approx(expected, abs=1e-12) and 0 < expected < 1
    assert f"the mean joints of {len(crops)} training crops at 96 px (lspet)" == source
    untrained = replace(protocol, splits={k: v for k, v in protocol.splits.items() if k != "train"})
    assert mean_pose_scores(untrained, data, [tests]) == ({}, "no training split to take a mean from")


@pytest.mark.parametrize("dataset", ["lspet", "mpii"])
def test_real_people_go_through_the_dataset_with_their_joints_in_the_crop(dataset, real_samples, tmp_path, capsys):
    from hpbench.format import HPFile

    src = real_samples / dataset
    options = ("--annotations", src / "test_mpii.json") if dataset == "mpii" else ()
    code, _, err = run_cli(capsys, "prepare", dataset, "--src", src, "--out", tmp_path, *options)
    assert code == 0, err
    data = HPFile(tmp_path / f"{dataset}.h5")
    people = BodyPoseDataset(data, np.arange(len(data)), create_model("cpm.6stage").preprocessing)
    inside = 0
    for position in range(len(people)):
        item = people[position]
        joints = item["joints"].numpy()[item["visible"].numpy()]
        joints = joints[np.isfinite(joints).all(axis=1)]
        assert item["image"].shape == (3, 368, 368) and len(joints)
        inside += int(((joints >= 0) & (joints < 368)).all())
    assert inside == len(people)  # the square of 200 × scale px holds every visible joint
