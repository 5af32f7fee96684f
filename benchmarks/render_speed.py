"""Synthetic head renderer speed on one core, at 450×450 (300W-LP / AFLW2000 size) and 64×64.

    python benchmarks/render_speed.py [--n 300]

Goal (issue 2): ≥ 50 images/s at 450×450 and ≥ 300 images/s at 64×64, rendering only.
"""

from __future__ import annotations

import argparse
import platform
import time

import cv2
import numpy as np
from recording import record

from hpbench.synth.scene import render_face_image

GOALS = {450: 50.0, 64: 300.0}


def images_per_second(size: int, n: int, encode: bool) -> float:
    render_face_image(np.random.default_rng(0), (0, 0, 0), size)  # warm caches (noise tile)
    started = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng(i)
        image, _ = render_face_image(rng, rng.uniform(-90, 90, 3) * [1, 0.5, 0.3], size)
        if encode:
            cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    results = {"machine": platform.processor() or platform.machine(), "n": args.n, "sizes": {}}
    for size, goal in GOALS.items():
        render = images_per_second(size, args.n, encode=False)
        with_jpeg = images_per_second(size, args.n, encode=True)
        results["sizes"][str(size)] = {"render_per_s": round(render, 1), "render_and_jpeg_per_s": round(with_jpeg, 1),
                                       "goal_per_s": goal, "meets_goal": render >= goal}
        print(f"{size}×{size}: {render:.0f} images/s rendering, {with_jpeg:.0f} with JPEG encoding (goal {goal:.0f})")
    record("render_speed", results)


if __name__ == "__main__":
    main()
