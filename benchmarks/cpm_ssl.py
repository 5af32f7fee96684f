"""CPM-SSL on synthetic people: supervised CPM against jigsaw-initialised transfers (fixed and fine-tuned).

    python benchmarks/cpm_ssl.py [--out benchmarks/results/cpm_ssl.json] [--record]

Writes synthetic LSPET (240), LSP (60) and MPII (30 images), pre-trains the jigsaw recipe on the
MPII images (synthetic-pretrain, 10 puzzles per image), then trains the supervised recipe and the
stage-1 (fixed, fine-tuned) and all-layer (fine-tuned) transfers on the 200-image set (synthetic-lsp-200) and the supervised one on the whole set
(synthetic-lsp), every run with the learning proofs' small model (2 stages, an eighth of the
channels, 96-px crops, batch 4, Adam 1e-3). Reports PCK@0.2 on synthetic LSP's test images, the
mean pose's, the puzzle accuracy and the seconds of each run. ``--record`` also writes the
supervised synthetic-lsp run's record for the leaderboard.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpbench.converters.prepare import prepare  # noqa: E402
from hpbench.evaluation.evaluate import evaluate  # noqa: E402
from hpbench.evaluation.leaderboard import leaderboards_dir  # noqa: E402
from hpbench.synth.writers import write_sample  # noqa: E402
from hpbench.training.train import train  # noqa: E402

SMALL = ("model.stages=2", "model.width=0.125", "model.input_size=96", "optimizer={name: adam, lr: 1.0e-3}",
         "batch_size=4", "augment={zoom: [0.9, 1.1], rotate: 10, flip: 0.5}", "early_stopping={patience: 6}")


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


TRANSFERS = ("cpm-lsp-transfer-stage1-fixed", "cpm-lsp-transfer-stage1-finetune", "cpm-lsp-transfer-all-finetune")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/cpm_ssl.json")
    parser.add_argument("--record", action="store_true", help="write the leaderboard record of the supervised run")
    parser.add_argument("--epochs", type=int, default=15, help="the supervised run on synthetic-lsp")
    parser.add_argument("--pretrain-epochs", type=int, default=12, help="the jigsaw pre-training (10 puzzles per image)")
    parser.add_argument("--transfer-epochs", type=int, default=10, help="each run on the 200-image set")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cpm-ssl-"))
    for dataset, n in (("lspet", 240), ("lsp", 60), ("mpii", 30)):
        write_sample(dataset, root / "raw" / dataset, n, seed=1, size=160)
        prepare(dataset, root / "raw" / dataset, root / "data", progress=False)
    data, runs = root / "data", {}

    def run(recipe, protocol, epochs, *overrides, pretrained=None):
        started = time.perf_counter()
        model = train(recipe, protocol, data, root / "runs" / f"{recipe}-{protocol}", (f"epochs={epochs}", *SMALL,
                      *overrides), pretrained=pretrained, workers=0, progress=False, log=lambda *a, **k: None)
        history = json.loads((model.parent / "training.json").read_text())["history"]
        record = evaluate(model, "synthetic-lsp", data, workers=0, progress=False) if protocol != "synthetic-pretrain" \
            else None
        runs[f"{recipe} on {protocol}"] = {
            "pck@0.2": record.results["lsp"].metrics["pck@0.2"] if record else None,
            "best_validation": min(h["validation_loss"] for h in history), "epochs": len(history),
            "seconds": round(time.perf_counter() - started, 1),
            **({"tile_accuracy": max(h["validation_tile_accuracy"] for h in history)} if record is None else {})}
        print(recipe, protocol, runs[f"{recipe} on {protocol}"], flush=True)
        return model, record

    pretrained, _ = run("cpm-jigsaw-pretrain", "synthetic-pretrain", args.pretrain_epochs)
    _, supervised = run("cpm-lsp", "synthetic-lsp", args.epochs)
    run("cpm-lsp", "synthetic-lsp-200", args.transfer_epochs)
    for recipe in TRANSFERS:
        run(recipe, "synthetic-lsp-200", args.transfer_epochs, pretrained=pretrained)
    summary = {"mean_pose_pck@0.2": _mean_pose_pck(root), "runs": runs,
               "settings": {"small_model": list(SMALL), "epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs,
                            "transfer_epochs": args.transfer_epochs}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    if args.record:
        print("record:", supervised.write(leaderboards_dir() / "results" / supervised.leaderboard_name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
