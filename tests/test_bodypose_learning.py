"""CPM-SSL's learning proof on synthetic people, through hpbench's train and evaluate: CPM learns
(PCK@0.2 above the mean pose's). A small model (2 stages, an eighth of the channels, 96-px crops,
batch 4, Adam, mild augmentation) so that it runs in about two CPU minutes; ``pytest -m slow``. The
jigsaw pre-training and the transfers, longer, are measured in benchmarks/cpm_ssl.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SMALL = ("model.stages=2", "model.width=0.125", "model.input_size=96", "optimizer={name: adam, lr: 1.0e-3}",
         "batch_size=4", "augment={zoom: [0.9, 1.1], rotate: 10, flip: 0.5}", "early_stopping={patience: 6}")


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """Synthetic LSPET (240), LSP (60) and MPII (30 images) prepared in one data folder."""
    from hpbench.converters.prepare import prepare
    from hpbench.synth.writers import write_sample

    root = tmp_path_factory.mktemp("people")
    for dataset, n in (("lspet", 240), ("lsp", 60), ("mpii", 30)):
        write_sample(dataset, root / "raw" / dataset, n, seed=1, size=160)
        prepare(dataset, root / "raw" / dataset, root / "data", progress=False)
    return root


def _train(people, recipe, protocol, epochs, *overrides, pretrained=None):
    from hpbench.training.train import train

    return train(recipe, protocol, people / "data", people / "runs" / f"{recipe}-{protocol}",
                 (f"epochs={epochs}", *SMALL, *overrides), pretrained=pretrained, workers=0, progress=False).parent


def _pck(people, run) -> float:
    from hpbench.evaluation.bodypose import bodypose_table
    from hpbench.evaluation.evaluate import evaluate

    record = evaluate(run / "model.pt", "synthetic-lsp", people / "data", workers=0, progress=False)
    print(bodypose_table(record))
    return record.results["lsp"].metrics["pck@0.2"]


def _mean_pose_pck(people) -> float:
    """PCK@0.2 of predicting, in every test crop, the training crops' mean joints."""
    from hpbench.data.bodypose import BodyPoseDataset
    from hpbench.data.transforms import Preprocessing
    from hpbench.metrics import pck
    from hpbench.protocols import load_protocol, select

    protocol, preprocessing = load_protocol("synthetic-lsp"), Preprocessing(input_size=96)
    (train,), (test,) = select(protocol, "train", people / "data"), select(protocol, "test", people / "data")
    crops = BodyPoseDataset(train.data, train.indices, preprocessing)
    mean = np.nanmean(np.stack([crops[i]["joints"].numpy() for i in range(len(crops))]), axis=0)
    tests = BodyPoseDataset(test.data, test.indices, preprocessing)
    predicted = tests.to_original(np.repeat(mean[None], len(tests), 0).astype(np.float64))
    return pck(predicted, tests.truth_joints, tests.visible).mean


def test_cpm_learns_and_beats_the_mean_pose(people):
    run = _train(people, "cpm-lsp", "synthetic-lsp", 15)
    history = json.loads((run / "training.json").read_text())["history"]
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    score, baseline = _pck(people, run), _mean_pose_pck(people)
    print(f"CPM PCK@0.2 {score:.3f}, the mean pose's {baseline:.3f}")
    assert score > baseline + 0.05  # measured 2026-12-02: 0.295 against 0.207
