"""CPM-SSL on synthetic people: the supervised CPM, the jigsaw pre-training, and supervised against
jigsaw-initialised training (fixed and fine-tuned) on 200 images.

    python benchmarks/cpm_ssl.py [--out benchmarks/results/cpm_ssl.json] [--record] [--seeds 0,1,2]

Writes synthetic LSPET (240), LSP (60) and MPII (30 images), 160 px. Every run uses a small CPM (an
eighth of the channels, 96-px crops, batch 4, Adam 1e-3, mild augmentation) and is scored by PCK@0.2
on synthetic LSP's test images beside the mean pose's (the record's mean predictor):
1. the supervised recipe on the whole set (synthetic-lsp), once per seed of ``--seeds``: 2 stages for
   30 epochs, and 1 stage for 10 (the pytest proof's model);
2. the jigsaw pre-training on the MPII and LSPET images (synthetic-pretrain, 10 puzzles per image,
   1 stage, no early stopping): the heatmap-coded recipe for 30 epochs, the cross-entropy one for 5;
   the share of tiles placed right on the validation puzzles after each epoch;
3. on the 200-image set (synthetic-lsp-200, 1 stage, 10 epochs): the supervised recipe, and the
   stage-1 transfers (fixed, fine-tuned) from each pre-training. With one stage, stage 1 is every
   layer but the output, so the report's "all layers" transfer is the same run.
``--record`` also writes the first seed's 2-stage record for the leaderboard.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpbench.converters.prepare import prepare  # noqa: E402
from hpbench.evaluation.evaluate import evaluate  # noqa: E402
from hpbench.leaderboard.rows import leaderboards_dir  # noqa: E402
from hpbench.synth.writers import write_sample  # noqa: E402
from hpbench.training.train import train  # noqa: E402

SMALL = ("model.width=0.125", "model.input_size=96", "optimizer={name: adam, lr: 1.0e-3}", "batch_size=4",
         "augment={zoom: [0.9, 1.1], rotate: 10, flip: 0.5}", "early_stopping={patience: 6}")
PRETRAININGS = {"heatmap": ("cpm-jigsaw-pretrain", 30), "cross-entropy": ("cpm-jigsaw-pretrain-ce", 5)}
TRANSFERS = ("cpm-lsp-transfer-stage1-fixed", "cpm-lsp-transfer-stage1-finetune")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/cpm_ssl.json")
    parser.add_argument("--record", action="store_true", help="write the leaderboard record of the supervised run")
    parser.add_argument("--epochs", type=int, default=30, help="the 2-stage supervised runs on synthetic-lsp")
    parser.add_argument("--transfer-epochs", type=int, default=10, help="each run on the 200-image set")
    parser.add_argument("--seeds", default="0,1,2", help="recipe seeds of the supervised synthetic-lsp runs")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cpm-ssl-"))
    for dataset, n in (("lspet", 240), ("lsp", 60), ("mpii", 30)):
        write_sample(dataset, root / "raw" / dataset, n, seed=1, size=160)
        prepare(dataset, root / "raw" / dataset, root / "data", progress=False)
    data, runs = root / "data", {}

    def run(recipe, protocol, epochs, *overrides, pretrained=None, name=None):
        started, name = time.perf_counter(), name or f"{recipe} on {protocol}"
        model = train(recipe, protocol, data, root / "runs" / name.replace(" ", "-").replace(",", ""),
                      (f"epochs={epochs}", *SMALL, *overrides), pretrained=pretrained, workers=0, progress=False)
        history = json.loads((model.parent / "training.json").read_text())["history"]
        entry = {"best_validation_loss": min(h["validation_loss"] for h in history), "epochs": len(history)}
        record = None
        if protocol == "synthetic-pretrain":
            entry["tiles_placed_right"] = [round(h["validation_tile_accuracy"], 3) for h in history]
        else:
            record = evaluate(model, "synthetic-lsp", data, workers=0, progress=False).record
            entry["pck@0.2"] = record.results["lsp"].metrics["pck@0.2"]
            runs["mean pose"] = {"pck@0.2": record.results["lsp"].mean_predictor_scores["pck@0.2"]}
        runs[name] = {**entry, "seconds": round(time.perf_counter() - started, 1)}
        print(name, runs[name], flush=True)
        return model, record

    seeds = [int(seed) for seed in args.seeds.split(",")]
    two_stages = [run("cpm-lsp", "synthetic-lsp", args.epochs, "model.stages=2", f"seed={seed}",
                      name=f"cpm-lsp on synthetic-lsp, 2 stages, seed {seed}")[1] for seed in seeds]
    for seed in seeds:
        run("cpm-lsp", "synthetic-lsp", 10, "model.stages=1", f"seed={seed}",
            name=f"cpm-lsp on synthetic-lsp, 1 stage, seed {seed}")
    one_stage = ("model.stages=1",)
    pretrained = {variant: run(recipe, "synthetic-pretrain", epochs, *one_stage, "early_stopping=null",
                               name=f"{recipe} on synthetic-pretrain")[0]
                  for variant, (recipe, epochs) in PRETRAININGS.items()}
    run("cpm-lsp", "synthetic-lsp-200", args.transfer_epochs, *one_stage)
    for variant, checkpoint in pretrained.items():
        for recipe in TRANSFERS:
            run(recipe, "synthetic-lsp-200", args.transfer_epochs, *one_stage, pretrained=checkpoint,
                name=f"{recipe} on synthetic-lsp-200, from the {variant} pre-training")
    summary = {"runs": runs, "settings": {"small_model": list(SMALL), "epochs": args.epochs, "seeds": seeds,
                                          "pretrainings": PRETRAININGS, "transfer_epochs": args.transfer_epochs}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    if args.record:
        print("record:", two_stages[0].write(leaderboards_dir() / "results" / two_stages[0].leaderboard_name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
