"""``hpbench demo``: the whole pipeline on synthetic heads, in a few minutes on a laptop CPU.

1. write synthetic 300W-LP and AFLW2000 samples in their raw formats (``hpbench synth``);
2. convert them to HDF5 (``hpbench prepare``);
3. train a small HopeNet-style model (``hpbench train demo-hopenet --protocol synthetic``);
4. evaluate it (``hpbench evaluate … --protocol synthetic``) and compare with predicting the mean.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from hpbench.converters.prepare import prepare
from hpbench.errors import HpbenchError
from hpbench.evaluation.evaluate import evaluate
from hpbench.evaluation.records import ResultRecord
from hpbench.protocols import load_protocol
from hpbench.synth.writers import write_sample
from hpbench.training.train import train

logger = logging.getLogger(__name__)

MARKER = ".hpbench-demo"
PROTOCOL, RECIPE = "synthetic", "demo-hopenet"  # the protocol names the datasets it trains and tests on


def _fresh_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise HpbenchError(f"{out} holds other files; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by hpbench demo; removed by the next demo run\n")


@dataclass
class DemoRun:
    """What the demo made: the folders, the checkpoint, the record and where it was written."""

    raw: Path
    data: Path
    checkpoint: Path
    record: ResultRecord
    record_path: Path


def run_demo(out: str | Path = "hpbench-demo", train_images: int = 3000, test_images: int = 400, size: int = 128,
             epochs: int | None = None, workers: int = 2) -> DemoRun:
    out = Path(out)
    _fresh_folder(out)
    raw, data = out / "raw", out / "data"
    protocol = load_protocol(PROTOCOL)
    (train_set,), (test_set,) = ([entry.dataset for entry in protocol.entries(split)] for split in ("train", "test"))
    logger.info(f"1/4 synthetic raw datasets → {raw}")
    write_sample(train_set, raw / train_set, train_images, seed=1, size=size, workers=workers)
    write_sample(test_set, raw / test_set, test_images, seed=2, size=size, workers=workers)
    logger.info(f"2/4 prepare → {data}")
    for dataset in (train_set, test_set):
        logger.info(prepare(dataset, raw / dataset, data, workers=workers).summary().splitlines()[0])
    logger.info(f"3/4 train {RECIPE} (HopeNet heads on a ResNet-18 at 64 px, from random weights)")
    overrides = [f"epochs={epochs}"] if epochs else []
    checkpoint = train(RECIPE, PROTOCOL, data_dir=data, out=out / "runs" / RECIPE, overrides=overrides,
                       workers=workers, restart=True)
    logger.info(f"4/4 evaluate under the {PROTOCOL} protocol")
    record = evaluate(checkpoint, PROTOCOL, data_dir=data, workers=workers).record
    return DemoRun(raw, data, checkpoint, record, record.write(out / "results" / f"{PROTOCOL}_{RECIPE}.json"))
