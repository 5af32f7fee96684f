"""Controlled changes of what a model sees, one at a time: how much each choice moves a score
(hpbench.evaluation.sensitivity). Each is deterministic, so a changed Dataset's crops are cached like
any other (the change is part of the crop cache's key).

``BoxChange`` scales a face box about its centre and shifts it by whole or fractional pixels, before
the crop rule runs. ``Degradation`` changes the cut crop (BGR uint8, at the input size): ``jpeg``
re-encodes it at a quality, ``downscale`` shrinks it to a side and back (area down, bilinear up: the
low-resolution setting papers report), ``blur`` is a Gaussian of σ pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hpbench.errors import HpbenchError

DEGRADATIONS = ("jpeg", "downscale", "blur")


@dataclass(frozen=True)
class BoxChange:
    """Each box side × ``scale`` about the box centre, then the box moved by (``dx``, ``dy``) pixels."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        boxes = np.asarray(boxes, dtype=np.float64)
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        half = (boxes[:, 2:] - boxes[:, :2]) / 2 * self.scale
        shift = np.array([self.dx, self.dy])
        return np.concatenate([centre - half + shift, centre + half + shift], axis=1)

    def __str__(self) -> str:
        parts = [f"box × {self.scale:g}"] if self.scale != 1 else []
        parts += [f"shift {self.dx:+g},{self.dy:+g} px"] if (self.dx, self.dy) != (0, 0) else []
        return ", ".join(parts) or "box as it is"


@dataclass(frozen=True)
class Degradation:
    kind: str  # one of DEGRADATIONS
    value: float  # jpeg: quality 1–100; downscale: the side in pixels; blur: σ in pixels

    def __post_init__(self):
        if self.kind not in DEGRADATIONS:
            raise HpbenchError(f"degradation {self.kind!r}: one of {', '.join(DEGRADATIONS)}")
        if self.value <= 0 or (self.kind == "jpeg" and self.value > 100):
            raise HpbenchError(f"degradation {self.kind} {self.value:g}: out of range")

    def apply(self, crop: np.ndarray) -> np.ndarray:
        """The changed crop, of the same shape and dtype."""
        if self.kind == "jpeg":
            ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(self.value)])
            return cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        if self.kind == "downscale":
            height, width = crop.shape[:2]
            small = cv2.resize(crop, (int(self.value), int(self.value)), interpolation=cv2.INTER_AREA)
            return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        return cv2.GaussianBlur(crop, (0, 0), sigmaX=float(self.value), borderType=cv2.BORDER_REFLECT_101)

    def __str__(self) -> str:
        return {"jpeg": f"JPEG quality {self.value:g}", "downscale": f"down to {self.value:g} px and back",
                "blur": f"blur σ {self.value:g} px"}[self.kind]
