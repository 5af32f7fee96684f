"""What a researcher reads beside a protocol's MAE: the error by yaw range, the error of predicting
the training mean, and (``hpbench evaluate --analysis DIR``) pictures: error against each true angle,
and the worst predictions with the true and predicted head axes drawn on their crops."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from hpbench.errors import HpbenchError
from hpbench.metrics import compute_metrics
from hpbench.protocols import select
from hpbench.pose import full_range_yaw, rotation_from_ypr

YAW_RANGES = tuple((lo, lo + 30.0) for lo in range(0, 180, 30))  # |yaw| out to 180°; a range holds its upper end


def error_by_yaw(predicted: np.ndarray, truth: np.ndarray, convention: str = "hpbench") -> dict[str, dict]:
    """Per |true yaw| range of 30° ([0, 30], (30, 60], … (150, 180]; the ranges a test set reaches):
    the MAE, the geodesic error (where the truth has all three angles) and the sample count. The yaw is
    the full-range one (hpbench.pose.full_range_yaw), so a head seen from behind counts beyond
    90° whichever of its Euler triples was stored."""
    magnitude = np.abs(truth[:, 0])
    complete = np.isfinite(truth).all(axis=1)
    if complete.any():
        wide = full_range_yaw(truth[complete])
        magnitude[complete] = np.where(np.isfinite(wide), np.abs(wide), magnitude[complete])
    reach = max(YAW_RANGES[2][1], float(np.nanmax(magnitude, initial=0.0)))
    metrics = ("mae", "geodesic") if complete.all() else ("mae",)
    out = {}
    for lo, hi in YAW_RANGES:
        if lo >= reach:
            break
        mask = (magnitude > lo if lo else magnitude >= 0) & (magnitude <= hi)
        count = int(mask.sum())
        scores = compute_metrics(metrics, predicted[mask], truth[mask], convention=convention) if count else {}
        out[f"{lo:g}-{hi:g}"] = {**{m: scores.get(m) for m in metrics}, "n": count}
    return out


def training_selections(protocol, data_dir, baseline: str) -> tuple[list, str]:
    """The protocol's training selections to take a ``baseline`` mean from, or ([], why there are none)."""
    if "train" not in protocol.splits:
        return [], "no training split to take a mean from"
    try:
        return select(protocol, "train", data_dir), ""
    except HpbenchError as err:
        return [], f"no {baseline}: {err}"


def training_mean_pose(protocol, data_dir) -> tuple[np.ndarray | None, str]:
    """The mean canonical pose of the protocol's training split (NaN for an angle a dataset lacks) and
    what it was taken from; or (None, why there is none)."""
    selections, why = training_selections(protocol, data_dir, "mean predictor")
    if not selections:
        return None, why
    poses = np.concatenate([s.truth for s in selections])
    with warnings.catch_warnings():  # an angle a dataset lacks (ETH-XGaze's roll) is NaN throughout
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(poses, axis=0)
    return mean, f"the mean pose of {len(poses):,} training samples ({', '.join(s.dataset for s in selections)})"


def mean_predictor_errors(protocol, data_dir, truths: dict[str, np.ndarray]) -> tuple[dict[str, float], str]:
    """The MAE on each test set of always predicting the mean pose of the protocol's training split,
    and what it was computed from (or, where that split is missing, why there is none)."""
    mean, source = training_mean_pose(protocol, data_dir)
    if mean is None:
        return {}, source
    errors = {dataset: compute_metrics(("mae",), np.broadcast_to(mean, truth.shape), truth,
                                       convention=protocol.score_convention)["mae"]
              for dataset, truth in truths.items()}
    return errors, source


def _error_per_sample(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.nanmean(np.abs(predicted - truth), axis=1)


def plot_error_vs_angle(predicted: np.ndarray, truth: np.ndarray, title: str, path: Path) -> Path:
    """Three panels: each sample's mean absolute error against its true yaw, pitch and roll, with the
    median in 10° bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    error = _error_per_sample(predicted, truth)
    figure, axes = plt.subplots(1, 3, figsize=(13, 4), dpi=100, sharey=True)
    for k, (axis, name) in enumerate(zip(axes, ("yaw", "pitch", "roll"))):
        angle = truth[:, k]
        present = np.isfinite(angle)
        axis.scatter(angle[present], error[present], s=6, alpha=0.35, color="tab:blue", label="samples")
        edges = np.arange(-100, 101, 10)
        centres, medians = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = present & (angle >= lo) & (angle < hi)
            if inside.sum() >= 3:
                centres.append((lo + hi) / 2)
                medians.append(np.median(error[inside]))
        axis.plot(centres, medians, color="tab:red", linewidth=2, label="median per 10°")
        axis.set_xlabel(f"true {name} (degrees)", fontsize=10)
        axis.set_xlim(-100, 100)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("mean absolute error over the angles (degrees)", fontsize=10)
    axes[0].legend(fontsize=9)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def draw_axes(image: np.ndarray, ypr, thickness: int, length: float | None = None) -> np.ndarray:
    """The head's x (red), y (green) and z (blue) axes from the crop's centre, drawn in place on a BGR
    image: axis k of the head frame appears along row k of R (x right, y up; image rows grow down)."""
    height, width = image.shape[:2]
    centre = np.array([width / 2, height / 2])
    length = length or 0.4 * min(height, width)
    rotation = rotation_from_ypr(np.nan_to_num(np.asarray(ypr, dtype=np.float64)))
    for k, colour in enumerate(((0, 0, 255), (0, 200, 0), (255, 0, 0))):
        direction = rotation[k]
        end = centre + length * np.array([direction[0], -direction[1]])
        cv2.line(image, tuple(np.round(centre).astype(int)), tuple(np.round(end).astype(int)), colour, thickness,
                 cv2.LINE_AA)
    return image


def worst_predictions_picture(dataset, predicted: np.ndarray, truth: np.ndarray, keys, path: Path,
                              count: int = 16, tile: int = 160) -> Path:
    """A grid of the ``count`` crops with the largest error, worst first: the true axes thin, the
    predicted ones thick, the key and the errors under each crop."""
    error = _error_per_sample(predicted, truth)
    order = np.argsort(-np.nan_to_num(error, nan=-1.0))[:count]
    columns = min(4, len(order))
    rows = -(-len(order) // columns) if len(order) else 0
    caption, header = 34, 22
    canvas = np.full((header + max(rows, 1) * (tile + caption), max(columns, 1) * tile, 3), 255, np.uint8)
    cv2.putText(canvas, "worst first; thin: true axes, thick: predicted; x red, y green, z blue", (4, 15),
                cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    for n, index in enumerate(order):
        image = dataset[int(index)]["image"].permute(1, 2, 0).numpy()
        if dataset.preprocessing.colour == "rgb":
            image = image[:, :, ::-1]
        image = cv2.resize(np.ascontiguousarray(image), (tile, tile), interpolation=cv2.INTER_LINEAR)
        draw_axes(image, truth[index], 1)
        draw_axes(image, predicted[index], 3, length=0.3 * tile)
        r, c = divmod(n, columns)
        top, left = header + r * (tile + caption), c * tile
        canvas[top:top + tile, left:left + tile] = image
        lines = (f"{keys[index]}"[:24], "err {:.1f}: y {:+.0f}/{:+.0f} p {:+.0f}/{:+.0f}".format(
            error[index], truth[index, 0], predicted[index, 0], truth[index, 1], predicted[index, 1]))
        for j, text in enumerate(lines):
            cv2.putText(canvas, text, (left + 3, top + tile + 13 + 14 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.36,
                        (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas):
        raise HpbenchError(f"{path}: could not be written (is the folder writable?)")
    return path
