"""Pictures of a search: best fitness against evaluations per optimiser, and MAE against MFLOPs of
every candidate with the Pareto front."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpbench.io import write_bytes_atomic


def _save(figure, path: Path) -> Path:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return write_bytes_atomic(path, buffer.getvalue())


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the points (MFLOPs, MAE) no other point beats in both (ties kept), by MFLOPs."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    front, best = [], np.inf
    for i in order:
        if points[i, 1] < best:
            front.append(i)
            best = points[i, 1]
    return np.array(front, dtype=int)


def plot_convergence(logs: dict[str, list[dict]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for name, entries in sorted(logs.items()):
        if entries:
            best = np.minimum.accumulate([e["fitness"] for e in entries])
            axes.step(np.arange(1, len(best) + 1), best, where="post", label=f"{name} ({best[-1]:.2f})", linewidth=2)
    axes.set_xlabel("evaluations")
    axes.set_ylabel("best fitness so far (lower is better)")
    axes.set_title("Head search: convergence per optimiser")
    axes.grid(alpha=0.3)
    axes.legend(title="optimiser (best)")
    figure.tight_layout()
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)


def plot_pareto(logs: dict[str, list[dict]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    everything = []
    for name, entries in sorted(logs.items()):
        trained = [e for e in entries if not e.get("cached")]
        if trained:
            points = np.array([[e["mflops"], e["val_mae"]] for e in trained])
            axes.scatter(points[:, 0], points[:, 1], s=22, alpha=0.7, label=name)
            everything.append(points)
    if everything:
        points = np.concatenate(everything)
        front = points[pareto_front(points)]
        axes.step(front[:, 0], front[:, 1], where="post", color="black", linewidth=1.5, label="Pareto front")
    axes.set_xscale("log")
    axes.set_xlabel("head MFLOPs (2 per multiply-add, log scale)")
    axes.set_ylabel("validation MAE (°)")
    axes.set_title("Head search: every trained candidate")
    axes.grid(alpha=0.3, which="both")
    axes.legend()
    figure.tight_layout()
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)
