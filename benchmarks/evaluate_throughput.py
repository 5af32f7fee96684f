"""Evaluation throughput on the CPU: a ResNet-18 KD student at 224 px with 0, 1 and 2 DataLoader
workers, the share of the time spent outside the model's forward pass, and the cost of the check
every prepared file gets before it is scored (full, then remembered).

    python benchmarks/evaluate_throughput.py [--n 400] [--work /tmp/hpbench-bench]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from recording import record
from samples import aflw2000_protocol, prepared_sample

from hpbench.evaluation.evaluate import evaluate
from hpbench.format import check_before_use
from hpbench.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hpbench-bench"))
    args = parser.parse_args()
    data = prepared_sample("aflw2000", args.n, args.work)
    weights = args.work / "kd_student_resnet18.pth"
    torch.save(create_model("kd_student.resnet18").state_dict(), weights)
    protocol = aflw2000_protocol(args.work, "bench", 224)
    results = {"machine": platform.machine(), "torch_threads": torch.get_num_threads(), "n": args.n, "runs": {}}
    os.environ["HPBENCH_CACHE"] = tempfile.mkdtemp()  # a cache that has not seen the file
    check = []
    for _ in range(2):
        started = time.perf_counter()
        check_before_use(data / "aflw2000.h5")
        check.append(time.perf_counter() - started)
    size_mb = (data / "aflw2000.h5").stat().st_size / 1e6
    results["check_before_use"] = {"first_s": round(check[0], 3), "remembered_s": round(check[1], 5),
                                   "file_mb": round(size_mb, 1)}
    print(f"check before use: {check[0]:.2f} s the first time ({size_mb / check[0]:.0f} MB/s), "
          f"{check[1] * 1000:.1f} ms when remembered")
    for workers in (0, 1, 2):
        outcome = evaluate(weights, protocol, data_dir=data, arch="kd_student.resnet18", device="cpu",
                           batch_size=32, workers=workers, progress=False).record
        result = outcome.results["aflw2000"]
        seconds, images = result.seconds, result.counts["evaluated"]
        outside = 1 - seconds["forward"] / seconds["total"]
        results["runs"][str(workers)] = {"images_per_s": round(images / seconds["total"], 1),
                                         "share_outside_forward": round(outside, 3), **seconds}
        print(f"workers={workers}: {images / seconds['total']:.1f} images/s, {outside:.1%} of the time outside forward")
    results["check_share_of_first_evaluation"] = round(check[0] / (check[0] + seconds["total"]), 3)
    print(f"the first check is {results['check_share_of_first_evaluation']:.1%} of a first evaluation (2 workers)")
    record("evaluate_throughput", results)


if __name__ == "__main__":
    main()
