"""Each optimiser of ``hpbench search`` against random search on synthetic heads, over a frozen
backbone trained by hpbench on another synthetic sample (issue 16's proof).

    python benchmarks/head_search.py [--train 900] [--test 200] [--budget 20] [--backbone-epochs 3]
        [--optimizers cmaes,ga,pso,cobyqa] [--out DIR]

1. A backbone: demo-hopenet (ResNet-18 at 64 px) trained on its own synthetic 300W-LP sample (seed 31),
   under the synthetic protocol.
2. The search data: another synthetic 300W-LP sample (seed 1; 70/30 by identity, synthetic-7030) and a
   synthetic AFLW2000 test sample.
3. ``random`` with the budget, then each optimiser with the same budget, all on the same cached
   features (head-search-synthetic: 5 epochs per candidate). The table: optimiser, evaluations,
   trained candidates, best fitness, its validation MAE and MFLOPs, wall time; and whether the best
   beats the median random candidate's fitness.
4. The overall winner is retrained and evaluated on the test set (its record in OUT/winner).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from recording import record

from hpbench.converters.prepare import prepare
from hpbench.search.objective import read_log
from hpbench.search.run import search
from hpbench.synth.writers import write_sample
from hpbench.training.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=900, help="synthetic 300W-LP images of the search")
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--backbone-epochs", type=int, default=3)
    parser.add_argument("--optimizers", default="cmaes,ga,pso,cobyqa")
    parser.add_argument("--retrain-epochs", type=int, default=15)
    parser.add_argument("--out", help="keep the data and runs here (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.out or tempfile.mkdtemp(prefix="head-search-"))
    data, backbone_data = folder / "data", folder / "backbone-data"
    for dataset, n, seed, out in (("300w_lp", args.train, 1, data), ("aflw2000", args.test, 2, data),
                                  ("300w_lp", 1500, 31, backbone_data), ("aflw2000", 100, 32, backbone_data)):
        if not (out / f"{dataset}.h5").is_file():
            raw = folder / f"raw-{out.name}-{dataset}"
            write_sample(dataset, raw, n, seed=seed, size=128, workers=2)
            prepare(dataset, raw, out, workers=2, progress=False)
    started = time.perf_counter()
    backbone = train("demo-hopenet", "synthetic", data_dir=backbone_data, out=folder / "backbone",
                     overrides=[f"epochs={args.backbone_epochs}"], workers=1, progress=False)
    backbone_seconds = time.perf_counter() - started
    run = folder / "search"
    rows = {}
    for optimizer in ["random", *args.optimizers.split(",")]:
        started = time.perf_counter()
        summary = search("head-search-synthetic", "synthetic-7030", optimizer, args.budget, backbone=str(backbone),
                         data_dir=data, out=run, retrain_epochs=0, workers=1, progress=False)
        best = summary["best"]
        rows[optimizer] = {"evaluations": summary["evaluations"], "trained": summary["trained"],
                           "best_fitness": round(best["fitness"], 3), "val_mae": round(best["val_mae"], 3),
                           "mflops": round(best["mflops"], 3), "params": best["params"],
                           "memory_mb": round(best["memory_mb"], 3), "seconds": round(time.perf_counter() - started, 1),
                           "architecture": best["key"]}
        print(optimizer, rows[optimizer])
    median_random = float(np.median([e["fitness"] for e in read_log(run / "random.jsonl")]))
    for row in rows.values():
        row["beats_median_random"] = row["best_fitness"] < median_random
    winner_name = min(rows, key=lambda name: rows[name]["best_fitness"])
    summary = search("head-search-synthetic", "synthetic-7030", winner_name, args.budget, backbone=str(backbone),
                     data_dir=data, out=run, retrain_epochs=args.retrain_epochs, workers=1, progress=False)
    results = {"train": args.train, "test": args.test, "budget": args.budget, "backbone_epochs": args.backbone_epochs,
               "backbone_seconds": round(backbone_seconds, 1), "features": summary["backbone"]["features"],
               "counts": summary["backbone"]["counts"], "median_random_fitness": round(median_random, 3),
               "optimizers": rows, "winner": {"optimizer": winner_name, **summary["winner"]},
               "pictures": summary["pictures"]}
    print(json.dumps(results, indent=2))
    record(f"head_search_{args.budget}", results)


if __name__ == "__main__":
    main()
