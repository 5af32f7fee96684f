"""``hpbench evaluate --analysis DIR`` for body pose: the worst predictions, skeletons on their crops.

Tiles are the test crops the model saw, worst first by the mean joint error in units of the crop
side; the true skeleton is drawn thin in green, the predicted one thick in red, with the sample's key
and that mean error.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpbench.io import atomic_path
from hpbench.skeletons import bones

TRUE_COLOUR, PREDICTED_COLOUR = (60, 200, 60), (40, 40, 230)  # BGR


def _draw(image: np.ndarray, joints: np.ndarray, pairs, colour, thickness: int) -> None:
    for a, b in pairs:
        if np.isfinite(joints[[a, b]]).all():
            cv2.line(image, tuple(int(round(v)) for v in joints[a]), tuple(int(round(v)) for v in joints[b]), colour,
                     thickness, cv2.LINE_AA)
    for point in joints:
        if np.isfinite(point).all():
            cv2.circle(image, tuple(int(round(v)) for v in point), thickness + 1, colour, -1, cv2.LINE_AA)


def worst_skeletons_picture(predictions, path, count: int = 16, columns: int = 4, tile: int = 256) -> Path:
    """A grid of the ``count`` worst test crops with true and predicted skeletons (PNG at ``path``)."""
    data = predictions.dataset
    crop_truth, crop_predicted = data.to_crop(data.truth_joints), data.to_crop(predictions.predicted)
    side = data.preprocessing.input_size
    with np.errstate(invalid="ignore"):
        error = np.nanmean(np.linalg.norm(crop_predicted - crop_truth, axis=-1), axis=1) / side
    order = np.argsort(-np.nan_to_num(error, nan=-1), kind="stable")[:count]
    pairs, scale = bones(data.joint_names), tile / side
    tiles = []
    for position in order:
        image = data[int(position)]["image"].numpy().transpose(1, 2, 0)
        image = image if data.preprocessing.colour == "bgr" else image[..., ::-1]
        image = cv2.resize(np.ascontiguousarray(image), (tile, tile), interpolation=cv2.INTER_LINEAR)
        _draw(image, crop_truth[position] * scale, pairs, TRUE_COLOUR, 1)
        _draw(image, crop_predicted[position] * scale, pairs, PREDICTED_COLOUR, 2)
        caption = f"{data.keys[position]}  error {100 * error[position]:.0f}% of the crop"
        cv2.rectangle(image, (0, 0), (tile, 18), (0, 0, 0), -1)
        cv2.putText(image, caption[:40], (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(image)
    while len(tiles) % columns:
        tiles.append(np.full((tile, tile, 3), 255, np.uint8))
    rows = [np.hstack(tiles[i: i + columns]) for i in range(0, len(tiles), columns)]
    legend = np.full((24, columns * tile, 3), 255, np.uint8)
    cv2.putText(legend, "green thin: true skeleton    red thick: predicted    worst first", (6, 17),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.vstack([legend, *rows])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        ok, encoded = cv2.imencode(".png", grid)
        Path(partial).write_bytes(encoded.tobytes())
    return path
