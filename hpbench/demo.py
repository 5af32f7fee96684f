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

from hpbench.converters.prepare import prepare
from hpbench.errors import HpbenchError
from hpbench.evaluation.evaluate import evaluate, results_table
from hpbench.evaluation.records import ResultRecord
from hpbench.format import HPFile, prepared_path
from hpbench.metrics import head_pose_scores
from hpbench.pose import inside_range
from hpbench.protocols import load_protocol
from hpbench.synth.writers import write_sample
from hpbench.training.train import train

MARKER = ".hpbench-demo"
PROTOCOL, RECIPE = "synthetic", "demo-hopenet"  # the protocol names the datasets it trains and tests on


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
             epochs: int | None = None, workers: int = 2, log=print) -> ResultRecord:
    out = Path(out)
    _fresh_folder(out)
    raw, data = out / "raw", out / "data"
    protocol = load_protocol(PROTOCOL)
    (train_set,), (test_set,) = ([entry.dataset for entry in protocol.entries(split)] for split in ("train", "test"))
    log(f"1/4 synthetic raw datasets → {raw}")
    write_sample(train_set, raw / train_set, train_images, seed=1, size=size, workers=workers)
    write_sample(test_set, raw / test_set, test_images, seed=2, size=size, workers=workers)
    log(f"2/4 prepare → {data}")
    for dataset in (train_set, test_set):
        log(prepare(dataset, raw / dataset, data, workers=workers).summary().splitlines()[0])
    log(f"3/4 train {RECIPE} (HopeNet heads on a ResNet-18 at 64 px, from random weights)")
    overrides = [f"epochs={epochs}"] if epochs else []
    checkpoint = train(RECIPE, PROTOCOL, data_dir=data, out=out / "runs" / RECIPE, overrides=overrides,
                       workers=workers, restart=True, log=log)
    log(f"4/4 evaluate under the {PROTOCOL} protocol")
    record = evaluate(checkpoint, PROTOCOL, data_dir=data, workers=workers)
    path = record.write(out / "results" / f"{PROTOCOL}_{RECIPE}.json")
    baseline = mean_predictor_mae(prepared_path(data, train_set), prepared_path(data, test_set))
    log("")
    log(results_table(record))
    log(f"predicting the training mean instead: MAE {baseline:.2f}°")
    log("")
    log(f"raw synthetic datasets: {raw}\nprepared HDF5 files:    {data}\ncheckpoint:             {checkpoint}\n"
        f"result record:          {path}")
    return record
