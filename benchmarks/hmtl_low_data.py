"""HMTL vs SL vs "HMTL w/o SSHs" at equal epochs on a low-data synthetic protocol (seed 000 §5.2 found
the largest gain with little data), and how well the pretext heads learn.

    python benchmarks/hmtl_low_data.py [--train 400] [--test 300] [--epochs 8] [--batch 32] [--task puzzle]
        [--grid 3] [--variants "HMTL,HMTL w/o SSHs,SL"]   (also: "pretext alone", supervised weight 0)

Synthetic 300W-LP (training) and AFLW2000 (test) samples at 128 px, ResNet-18 at 64 px from random
weights, the same seed for the three networks: hmtl-puzzle3x3 with the overrides printed, without its
pretext heads (model.pretext_heads=false) and without the pretext (model.pretext=null, SL).
Whether HMTL wins on synthetic heads is a finding, not a goal.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from recording import record

from hpbench.converters.prepare import prepare
from hpbench.data.headpose import dataset_for
from hpbench.evaluation.analysis import mean_predictor_errors
from hpbench.evaluation.evaluate import evaluate
from hpbench.models.hmtl import pretext_accuracy
from hpbench.models.loading import load_model
from hpbench.protocols import load_protocol, select
from hpbench.synth.writers import write_sample
from hpbench.training.train import train

# hmtl-puzzle3x3 and its two controls, as hmtl-puzzle3x3-without-heads and hmtl-sl define them
VARIANTS = {"HMTL": [], "HMTL w/o SSHs": ["model.pretext_heads=false"], "SL": ["model.pretext=null"],
            "pretext alone": ["loss.supervised_weight=0"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--variants", default="HMTL,HMTL w/o SSHs,SL",
                        help=f"comma-separated, of: {', '.join(VARIANTS)}")
    parser.add_argument("--task", default="puzzle")
    parser.add_argument("--grid", type=int, default=3)
    parser.add_argument("--pretext-weight", type=float, default=50.0)  # the paper's
    parser.add_argument("--out", help="keep the data and runs here (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.out or tempfile.mkdtemp(prefix="hmtl-low-data-"))
    data = folder / "data"
    for dataset, n, seed in (("300w_lp", args.train, 1), ("aflw2000", args.test, 2)):
        if not (data / f"{dataset}.h5").is_file():
            write_sample(dataset, folder / f"raw-{dataset}", n, seed=seed, size=128, workers=2)
            prepare(dataset, folder / f"raw-{dataset}", data, workers=2, progress=False)
    overrides = ["arch=hmtl.resnet18", "model.input_size=64", f"epochs={args.epochs}", f"batch_size={args.batch}",
                 "scheduler=null", "augment.colour=false", f"model.pretext={args.task}", f"model.grid={args.grid}",
                 f"loss.pretext_weight={args.pretext_weight}"]
    print("overrides:", " ".join(overrides))
    protocol = load_protocol("synthetic")
    (test,) = select(protocol, "test", data)
    baseline = mean_predictor_errors(protocol, data, {"aflw2000": test.data.ypr[test.indices]})[0]["aflw2000"]
    results = {"train": args.train, "test": args.test, "epochs": args.epochs, "batch": args.batch,
               "overrides": overrides,
               "mean_predictor_mae": round(baseline, 3), "variants": {}}
    for label in (name.strip() for name in args.variants.split(",")):
        variant = VARIANTS[label]
        started = time.perf_counter()
        checkpoint = train("hmtl-puzzle3x3", "synthetic", data, out=folder / label.replace(" ", "-").replace("/", ""),
                           overrides=overrides + variant, workers=1, progress=False, restart=True)
        record_ = evaluate(checkpoint, "synthetic", data_dir=data, workers=1, progress=False, device="cpu").record
        metrics = record_.results["aflw2000"].metrics
        entry = {"mae": round(metrics["mae"], 3),
                 **{k: round(metrics[f"mae_{k}"], 3) for k in ("yaw", "pitch", "roll")},
                 "train_seconds": round(time.perf_counter() - started, 1)}
        model = load_model(checkpoint).module
        if model.pretext_branch is not None:
            crops = dataset_for(test, protocol.crop, model.preprocessing, progress=False)
            entry["pretext_accuracy"] = {k: round(v, 3) for k, v in pretext_accuracy(model, crops).items()}
        results["variants"][label] = entry
        print(f"{label:14s} MAE {entry['mae']:.2f}° (yaw {entry['yaw']:.2f}, pitch {entry['pitch']:.2f}, "
              f"roll {entry['roll']:.2f}) {entry.get('pretext_accuracy', '')} in {entry['train_seconds']:.0f} s")
    print(f"mean predictor: {baseline:.2f}°")
    record(f"hmtl_low_data_{args.train}_{args.task}{args.grid}", results)


if __name__ == "__main__":
    main()
