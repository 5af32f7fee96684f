"""``hpbench demo``: the whole pipeline on synthetic heads, in a few minutes on a laptop CPU.

1. write synthetic 300W-LP and AFLW2000 samples in their raw formats (``hpbench synth``);
2. convert them to HDF5 (``hpbench prepare``);
3. train a small HopeNet-style model (``hpbench train demo-hopenet --protocol synthetic``);
4. evaluate it (``hpbench evaluate … --protocol synthetic``) and compare with predicting the mean.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from hpbench.datasets.prepare import prepare
from hpbench.errors import HpbenchError
from hpbench.evaluate import evaluate, results_table, write_record
from hpbench.format import HPFile
from hpbench.metrics import head_pose_scores
from hpbench.pose import inside_range
from hpbench.synth.writers import write_sample
from hpbench.train import train

MARKER = ".hpbench-demo"


def _fresh_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise HpbenchError(f"{out} holds other files; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by hpbench demo; removed by the next demo run\n")


def mean_predictor_mae(train_file: Path, test_file: Path) -> float:
    """MAE on the test set of always predicting the training set's mean pose (both ±99° filtered)."""
    train_ypr, test_ypr = HPFile(train_file).ypr, HPFile(test_file).ypr
    train_ypr, test_ypr = train_ypr[inside_range(train_ypr)], test_ypr[inside_range(test_ypr)]
    return head_pose_scores(np.broadcast_to(train_ypr.mean(axis=0), test_ypr.shape), test_ypr)["mae"]


def run_demo(out: str | Path = "hpbench-demo", train_images: int = 3000, test_images: int = 400, size: int = 128,
             epochs: int | None = None, workers: int = 2, log=print) -> dict:
    out = Path(out)
    _fresh_folder(out)
    raw, data = out / "raw", out / "data"
    log(f"1/4 synthetic raw datasets → {raw}")
    write_sample("300w_lp", raw / "300w_lp", train_images, seed=1, size=size, workers=workers)
    write_sample("aflw2000", raw / "aflw2000", test_images, seed=2, size=size, workers=workers)
    log(f"2/4 prepare → {data}")
    for dataset in ("300w_lp", "aflw2000"):
        log(prepare(dataset, raw / dataset, data, workers=workers, progress=False).summary().splitlines()[0])
    log("3/4 train demo-hopenet (HopeNet heads on a ResNet-18 at 64 px, from random weights)")
    overrides = [f"epochs={epochs}"] if epochs else []
    checkpoint = train("demo-hopenet", "synthetic", data_dir=data, out=out / "runs" / "demo-hopenet",
                       overrides=overrides, workers=workers, progress=False, restart=True, log=log)
    log("4/4 evaluate under the synthetic protocol")
    record = evaluate(checkpoint, "synthetic", data_dir=data, workers=workers, progress=False)
    path = write_record(record, out / "results" / "synthetic_demo-hopenet.json")
    baseline = mean_predictor_mae(data / "300w_lp.h5", data / "aflw2000.h5")
    log("")
    log(results_table(record))
    log(f"predicting the training mean instead: MAE {baseline:.2f}°")
    log("")
    log(f"raw synthetic datasets: {raw}\nprepared HDF5 files:    {data}\ncheckpoint:             {checkpoint}\n"
        f"result record:          {path}")
    return record
