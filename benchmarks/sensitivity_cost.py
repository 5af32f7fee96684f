"""The cost of a sensitivity report: a ResNet-18 (KD student) at 224 px on synthetic AFLW2000, every
setting, run twice in one crop cache. The first run cuts every changed crop once; the second should
cost the forward passes only (goal: its wall time ≤ 1.1× the forward time it measures).

    python benchmarks/sensitivity_cost.py [--n 400] [--work /tmp/hpbench-bench]
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

import hpbench
from hpbench.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hpbench-bench"))
    args = parser.parse_args()
    data = prepared_sample("aflw2000", args.n, args.work)
    protocol = aflw2000_protocol(args.work, "sensitivity-bench", 224)
    os.environ["HPBENCH_CACHE"] = tempfile.mkdtemp()  # a crop cache that has seen nothing
    torch.manual_seed(0)
    model = create_model("kd_student.resnet18")
    runs = {}
    for name in ("first", "second"):
        started = time.perf_counter()
        result = hpbench.sensitivity(model, protocol, data=data, progress=False, device="cpu")
        wall = time.perf_counter() - started
        runs[name] = {"wall_s": round(wall, 1), "forward_s": result.seconds["forward"],
                      "wall_over_forward": round(wall / result.seconds["forward"], 3),
                      "settings": len(result.settings) + 1}
        print(f"{name} run: {wall:.1f} s, of which {result.seconds['forward']:.1f} s in forward passes "
              f"({runs[name]['settings']} evaluations)")
    print(result.section()["summary"]["aflw2000"])
    record("sensitivity_cost", {"machine": platform.machine(), "torch": torch.__version__,
                                "torch_threads": torch.get_num_threads(), "n": args.n, "runs": runs,
                                "summary": result.section()["summary"]})


if __name__ == "__main__":
    main()
