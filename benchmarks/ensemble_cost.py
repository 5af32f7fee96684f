"""Cost of KD's convolutional ensemble relative to one forward pass, for A = 9 and A = 49 crops.

    python benchmarks/ensemble_cost.py [--arch kd_student.resnet18] [--batch 8] [--size 224]

The ensemble runs one batched forward pass per offset, so its cost should be about A forward passes.
"""

from __future__ import annotations

import argparse
import time

import torch
from recording import record

from hpbench.models import create_model
from hpbench.models.ensemble import EnsembleSpec, ensemble_probabilities


def seconds(function, repeats: int = 3) -> float:
    function()  # warm up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", default="kd_student.resnet18")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    model = create_model(args.arch, input_size=args.size).eval()
    results = {"arch": args.arch, "batch": args.batch, "size": args.size, "torch_threads": torch.get_num_threads()}
    with torch.inference_mode():
        single = seconds(lambda: model.rvc_logits(torch.randn(args.batch, 3, args.size, args.size)))
        results["single_forward_s"] = round(single, 4)
        for text in ("p=5,s=5", "p=15,s=5"):
            spec = EnsembleSpec.parse(text)
            images = torch.randn(args.batch, 3, args.size + 2 * spec.pad, args.size + 2 * spec.pad)
            cost = seconds(lambda: ensemble_probabilities(model, images, spec), repeats=1)
            results[f"A={spec.size}"] = {"seconds": round(cost, 3), "relative_to_single": round(cost / single, 2)}
            print(f"A = {spec.size:2d} ({text}): {cost / single:.1f}× one forward pass")
    record("ensemble_cost", results)


if __name__ == "__main__":
    main()
