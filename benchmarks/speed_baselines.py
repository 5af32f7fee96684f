"""Speed of the registered baselines at their protocols' input sizes on this machine: one architecture
per family (its ResNet-18 where it has one; random weights: speed does not depend on them), through
PyTorch with 1 and all CPU threads and through onnxruntime where the family exports to ONNX with
parity (``hpbench bench``), and the ratio onnxruntime / torch per model.

    python benchmarks/speed_baselines.py [--repeats 10] [--batch 16]
"""

from __future__ import annotations

import argparse

import torch
from recording import record

from hpbench.evaluation.speed import bench_section
from hpbench.models import create_model, list_models
from hpbench.models.speed import cpu_name

SIZES = {"cpm": 368}  # the body-pose protocols' input size; every head-pose protocol of the papers uses 224


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    chosen: dict[str, str] = {}
    for name in sorted(list_models(), key=lambda n: (not n.endswith("resnet18"), n)):
        chosen.setdefault(name.split(".")[0], name)
    results = {"cpu": cpu_name(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
               "repeats": args.repeats, "batch": args.batch, "models": {}}
    for family, arch in sorted(chosen.items()):
        if family == "searched":  # built from a search over a backbone
            continue
        size = SIZES.get(family, 224)
        section = bench_section(create_model(arch), input_size=size, batch=args.batch, repeats=args.repeats, warmup=2)
        by = {(r["runtime"], r["setting"], r["batch"]): r for r in section["runs"]}
        entry = {"input_size": size, "parameters_m": section["parameters_m"], "gflops": section["gflops"],
                 "note": section["note"],
                 **{f"{runtime}_{setting.replace(' ', '_')}_b{batch}_ms": run["median_ms"]
                    for (runtime, setting, batch), run in by.items()}}
        torch_ms = by[("torch", "1 thread", 1)]["median_ms"]
        onnx = by.get(("onnxruntime", "1 thread", 1))
        entry["onnx_over_torch_1_thread_b1"] = round(onnx["median_ms"] / torch_ms, 3) if onnx else None
        results["models"][arch] = entry
        print(f"{arch:>22} @ {size}: torch 1 thread {torch_ms:.1f} ms, all threads "
              f"{by[('torch', 'all threads', 1)]['median_ms']:.1f} ms (batch 1); "
              f"onnxruntime/torch {entry['onnx_over_torch_1_thread_b1']}")
    record("speed_baselines", results)


if __name__ == "__main__":
    main()
