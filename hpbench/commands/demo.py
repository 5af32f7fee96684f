"""``hpbench demo``: the whole pipeline on synthetic heads; the table (with the MAE of predicting the
training mean, for scale) and where everything went."""

from __future__ import annotations

from hpbench.demo import run_demo
from hpbench.evaluation.report import results_table


def run(**options) -> int:
    made = run_demo(**options)
    print(f"\n{results_table(made.record)}\n")
    print(f"raw synthetic datasets: {made.raw}\nprepared HDF5 files:    {made.data}\n"
          f"checkpoint:             {made.checkpoint}\nresult record:          {made.record_path}")
    return 0
