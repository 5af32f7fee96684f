"""CPM-SSL on synthetic people: supervised CPM against jigsaw-initialised transfers (fixed and fine-tuned).

    python benchmarks/cpm_ssl.py [--out benchmarks/results/cpm_ssl.json] [--record] [--seeds 0,1,2]
    python benchmarks/cpm_ssl.py --puzzle-fit [--puzzle-steps 300 --puzzle-lr 1e-3 --puzzle-width 0.125]

Writes synthetic LSPET (240), LSP (60) and MPII (30 images) and pre-trains the jigsaw recipe on the
MPII images (synthetic-pretrain, 10 puzzles per image). Then it trains the supervised recipe on the
whole set (synthetic-lsp, 30 epochs, once per seed of ``--seeds``) and, on the 200-image set
(synthetic-lsp-200), the supervised recipe and the stage-1 (fixed, fine-tuned) and all-layer
(fine-tuned) transfers. Every run uses the learning proofs' small model (2 stages, an eighth of the
channels, 96-px crops, batch 4, Adam 1e-3). Reports PCK@0.2 on synthetic LSP's test images, the mean
pose's, the puzzle accuracy and the seconds of each run. ``--record`` also writes the
supervised synthetic-lsp run's record (the first seed's) for the leaderboard. ``--puzzle-fit`` only
checks whether the small CPM can fit 16 fixed puzzles (Adam, batches of 8): the loss and the share of
their tiles placed right every tenth of the steps.
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
    return pck(predicted, tests.truth_joints).mean


def _puzzle_fit(root: Path, steps: int, lr: float, width: float) -> None:
    import torch

    from hpbench.data.jigsaw import JigsawPuzzles
    from hpbench.format import HPFile
    from hpbench.models import create_model
    from hpbench.training.bodypose import belief_map_loss, tiles_placed

    torch.manual_seed(0)
    model = create_model("cpm.6stage", joints=9, maps=10, stages=2, input_size=96, width=width)
    data = HPFile(root / "data" / "mpii.h5")
    puzzles = JigsawPuzzles(data, np.arange(len(data)), model.preprocessing, per_image=10)
    items = [puzzles[i] for i in range(16)]
    images = model.preprocessing.normalise(torch.stack([item["image"] for item in items]))
    targets, perms = torch.stack([item["heatmaps"] for item in items]), torch.stack([item["perm"] for item in items])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        batch = torch.randint(0, len(items), (8,))
        loss = belief_map_loss(model(images[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % max(1, steps // 10) == 0:
            with torch.no_grad():
                right = (tiles_placed(model.eval()(images)) == perms).float().mean().item()
            model.train()
            print(f"step {step + 1}: loss {loss.item():.1f}, tiles placed right {right:.3f}", flush=True)


TRANSFERS = ("cpm-lsp-transfer-stage1-fixed", "cpm-lsp-transfer-stage1-finetune", "cpm-lsp-transfer-all-finetune")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/cpm_ssl.json")
    parser.add_argument("--record", action="store_true", help="write the leaderboard record of the supervised run")
    parser.add_argument("--epochs", type=int, default=30, help="the supervised run on synthetic-lsp")
    parser.add_argument("--pretrain-epochs", type=int, default=12, help="the jigsaw pre-training (10 puzzles per image)")
    parser.add_argument("--transfer-epochs", type=int, default=10, help="each run on the 200-image set")
    parser.add_argument("--seeds", default="0,1,2", help="recipe seeds of the supervised synthetic-lsp run")
    parser.add_argument("--puzzle-fit", action="store_true", help="only: can the small CPM fit 16 puzzles?")
    parser.add_argument("--puzzle-steps", type=int, default=300)
    parser.add_argument("--puzzle-lr", type=float, default=1e-3)
    parser.add_argument("--puzzle-width", type=float, default=0.125)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cpm-ssl-"))
    for dataset, n in (("lspet", 240), ("lsp", 60), ("mpii", 30)):
        write_sample(dataset, root / "raw" / dataset, n, seed=1, size=160)
        prepare(dataset, root / "raw" / dataset, root / "data", progress=False)
    if args.puzzle_fit:
        _puzzle_fit(root, args.puzzle_steps, args.puzzle_lr, args.puzzle_width)
        return 0
    data, runs = root / "data", {}

    def run(recipe, protocol, epochs, *overrides, pretrained=None, name=None):
        started, name = time.perf_counter(), name or f"{recipe} on {protocol}"
        model = train(recipe, protocol, data, root / "runs" / name.replace(" ", "-"), (f"epochs={epochs}", *SMALL,
                      *overrides), pretrained=pretrained, workers=0, progress=False, log=lambda *a, **k: None)
        history = json.loads((model.parent / "training.json").read_text())["history"]
        record = evaluate(model, "synthetic-lsp", data, workers=0, progress=False) if protocol != "synthetic-pretrain" \
            else None
        runs[name] = {
            "pck@0.2": record.results["lsp"].metrics["pck@0.2"] if record else None,
            "best_validation": min(h["validation_loss"] for h in history), "epochs": len(history),
            "seconds": round(time.perf_counter() - started, 1),
            **({"tile_accuracy": max(h["validation_tile_accuracy"] for h in history)} if record is None else {})}
        print(name, runs[name], flush=True)
        return model, record

    pretrained, _ = run("cpm-jigsaw-pretrain", "synthetic-pretrain", args.pretrain_epochs)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    supervised = [run("cpm-lsp", "synthetic-lsp", args.epochs, f"seed={seed}", name=f"cpm-lsp on synthetic-lsp, seed {seed}")[1]
                  for seed in seeds][0]
    run("cpm-lsp", "synthetic-lsp-200", args.transfer_epochs)
    for recipe in TRANSFERS:
        run(recipe, "synthetic-lsp-200", args.transfer_epochs, pretrained=pretrained)
    summary = {"mean_pose_pck@0.2": _mean_pose_pck(root), "runs": runs,
               "settings": {"small_model": list(SMALL), "epochs": args.epochs, "seeds": seeds, "pretrain_epochs": args.pretrain_epochs,
                            "transfer_epochs": args.transfer_epochs}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    if args.record:
        print("record:", supervised.write(leaderboards_dir() / "results" / supervised.leaderboard_name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
