"""``hpbench bboxes show DATASET``: a grid of samples with the reference and the relabelled boxes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpbench.converters import get_converter
from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.io import write_bytes_atomic

TILE = 256
COLOURS = {"reference": (255, 128, 0), "detected": (0, 200, 0), "fallback": (0, 0, 255),
           "rejected": (0, 200, 255)}  # BGR


def _dashed_rectangle(tile: np.ndarray, box, colour, dash: int = 6) -> None:
    x1, y1, x2, y2 = box
    for (a, b) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        for start in range(0, length, 2 * dash):
            t0, t1 = start / max(length, 1), min(start + dash, length) / max(length, 1)
            cv2.line(tile, (round(a[0] + (b[0] - a[0]) * t0), round(a[1] + (b[1] - a[1]) * t0)),
                     (round(a[0] + (b[0] - a[0]) * t1), round(a[1] + (b[1] - a[1]) * t1)), colour, 2)


def box_grid(path: str | Path, source: str = "yolo", n: int = 16, out: str | Path = "grid.png",
             seed: int = 0) -> Path:
    """Draw ``n`` samples, fallbacks first: the reference box in blue, the ``source`` box in green
    (red where it fell back to the reference, with the detection it turned down dashed in orange),
    each tile's status, detector score and IoU with the reference under it, and a legend above."""
    data = HPFile(path)
    if source not in data.layout.box_sources:
        raise HpbenchError(f"{path} has no '{source}' boxes (has: {', '.join(data.layout.box_sources)})")
    reference = data.box(get_converter(data.layout.dataset).reference_box or source)
    boxes = data.box(source)
    status = data.box_status(source)
    status = status if status is not None else np.where(np.isfinite(boxes).all(axis=1), "detected", "fallback")
    quality = data.box_quality(source)
    rejected = data.box_rejected(source) if quality is not None else None
    order = np.random.default_rng(seed).permutation(len(data))
    order = sorted(order, key=lambda i: status[i] == "detected")[:n]
    tiles = []
    for i in order:
        image = data.image(int(i))
        scale = TILE / max(image.shape[:2])
        tile = np.zeros((TILE, TILE, 3), np.uint8)
        small = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))))
        tile[:small.shape[0], :small.shape[1]] = small
        for box, colour in ((reference[i], COLOURS["reference"]),
                            (boxes[i] if status[i] == "detected" else reference[i], COLOURS[str(status[i])])):
            if np.isfinite(box).all():
                x1, y1, x2, y2 = (int(round(v * scale)) for v in box)
                cv2.rectangle(tile, (x1, y1), (x2, y2), colour, 2 if colour != COLOURS["reference"] else 1)
        turned_down = rejected is not None and status[i] != "detected" and np.isfinite(rejected[i]).all()
        if turned_down:
            _dashed_rectangle(tile, [int(round(v * scale)) for v in rejected[i]], COLOURS["rejected"])
        caption = str(status[i])
        if quality is not None and (status[i] == "detected" or turned_down):
            caption += f"{': rejected' if turned_down else ''}  score {quality[0][i]:.2f}  IoU {quality[1][i]:.2f}"
        elif rejected is not None and status[i] != "detected":
            caption += ": nothing detected"
        elif status[i] != "detected":
            caption += " (no detection fitted: the reference box is used)"
        cv2.rectangle(tile, (0, TILE - 22), (TILE, TILE), (0, 0, 0), -1)
        cv2.putText(tile, caption, (4, TILE - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    if not tiles:
        raise HpbenchError(f"{path} holds no samples")
    columns = 4
    while len(tiles) % columns:
        tiles.append(np.zeros((TILE, TILE, 3), np.uint8))
    grid = np.vstack([np.hstack(tiles[r:r + columns]) for r in range(0, len(tiles), columns)])
    legend = np.full((30, grid.shape[1], 3), 255, np.uint8)
    x = 8
    for label, colour in ((f"reference box ({get_converter(data.layout.dataset).reference_box or source})",
                           COLOURS["reference"]), (f"{source} box", COLOURS["detected"]),
                          (f"{source} fell back to the reference", COLOURS["fallback"]),
                          ("detection turned down", COLOURS["rejected"])):
        if colour == COLOURS["rejected"]:
            _dashed_rectangle(legend, (x, 9, x + 22, 21), colour, dash=4)
        else:
            cv2.rectangle(legend, (x, 9), (x + 22, 21), colour, 2)
        cv2.putText(legend, label, (x + 28, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x += 40 + cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]
    ok, encoded = cv2.imencode(".png", np.vstack([legend, grid]))
    return write_bytes_atomic(out, encoded.tobytes())
