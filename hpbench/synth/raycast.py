"""Orthographic camera and a vectorised ellipsoid ray caster with a depth buffer.

The camera is the 3DDFA one: orthographic, x to the image right, y up, z towards the viewer. A
head-frame point p (see hpbench.synth.head) with pose rotation R (hpbench.pose) lands at

    u = cx + scale · (Rᵀp)_x,    v = cy − scale · (Rᵀp)_y,    depth = scale · (Rᵀp)_z

in pixels, where (u, v) = (column, row) and pixel centres lie on integers. Every pixel's ray meets
an ellipsoid in a quadratic whose coefficients are affine or quadratic in the pixel position, so one
ellipsoid costs a dozen whole-array operations over its screen-space bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpbench.synth.head import Ellipsoid


@dataclass(frozen=True)
class Placement:
    """Image position (cx, cy) of the head-frame origin and the scale in pixels per head unit."""

    scale: float
    cx: float
    cy: float

    def supersampled(self, factor: int) -> "Placement":
        """The same placement on an image ``factor`` times larger (pixel centres kept aligned)."""
        shift = (factor - 1) / 2
        return Placement(self.scale * factor, self.cx * factor + shift, self.cy * factor + shift)


def project(points: np.ndarray, rotation: np.ndarray, placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) head-frame points → (n, 2) pixel (u, v) and (n,) depth (larger is nearer)."""
    world = np.asarray(points, float) @ np.asarray(rotation, float)  # rows of Rᵀp
    s = placement.scale
    uv = np.stack([placement.cx + s * world[:, 0], placement.cy - s * world[:, 1]], axis=1)
    return uv, s * world[:, 2]


class DepthBuffer:
    """Per-pixel nearest depth and the id of the part seen there (−1: background)."""

    def __init__(self, height: int, width: int):
        self.depth = np.full((height, width), -np.inf, np.float32)
        self.part = np.full((height, width), -1, np.int16)

    @property
    def shape(self) -> tuple[int, int]:
        return self.depth.shape


def cast_ellipsoids(
    buffer: DepthBuffer,
    parts: list[Ellipsoid],
    rotation: np.ndarray,
    placement: Placement,
    first_id: int = 0,
    depth_offset: float = 0.0,
) -> tuple[int, int, int, int]:
    """Draw ``parts`` (head frame, rotated by ``rotation``) into ``buffer``; part k gets id first_id + k.

    Returns the (row0, row1, col0, col1) box of pixels the parts may cover.
    """
    height, width = buffer.shape
    r = np.asarray(rotation, float)
    s, cx, cy = placement.scale, placement.cx, placement.cy
    centres = np.array([p.center for p in parts], float)
    radii = np.array([p.radii for p in parts], float)
    # Per part, the pixel's ray in the unit-sphere frame is o + t·d with o = x·A + y·B + C.
    a_vec, b_vec, d_vec, c_vec = r[:, 0] / radii, r[:, 1] / radii, r[:, 2] / radii, -centres / radii
    coefficients = np.stack(
        [np.einsum("ij,ij->i", u, v) for u, v in
         ((a_vec, d_vec), (b_vec, d_vec), (c_vec, d_vec), (d_vec, d_vec), (a_vec, a_vec), (b_vec, b_vec),
          (a_vec, b_vec), (a_vec, c_vec), (b_vec, c_vec), (c_vec, c_vec))],
        axis=1,
    ).tolist()
    centre_px = np.stack([cx + s * (centres @ r)[:, 0], cy - s * (centres @ r)[:, 1]], axis=1)
    extent_px = s * np.sqrt(np.einsum("kj,ij->ki", radii**2, r.T**2))[:, :2]  # half-sizes of screen boxes
    low = np.floor(centre_px - extent_px).astype(int)
    high = np.ceil(centre_px + extent_px).astype(int) + 1
    touched = [height, 0, width, 0]
    for k, part in enumerate(parts):
        c0, c1 = max(0, low[k, 0]), min(width, high[k, 0])
        r0, r1 = max(0, low[k, 1]), min(height, high[k, 1])
        if c0 >= c1 or r0 >= r1:
            continue
        touched = [min(touched[0], r0), max(touched[1], r1), min(touched[2], c0), max(touched[3], c1)]
        x = (np.arange(c0, c1, dtype=np.float32) - np.float32(cx)) * np.float32(1 / s)
        y = (np.float32(cy) - np.arange(r0, r1, dtype=np.float32)) * np.float32(1 / s)
        ad, bd, cd, dd, aa, bb, ab, ac, bc, cc = coefficients[k]
        half_b = (x * ad)[None, :] + (y * bd + cd)[:, None]
        norm2 = (x * (x * aa + 2 * ac))[None, :] + (y * (y * bb + 2 * bc) + (cc - 1))[:, None]
        norm2 += (2 * ab) * (y[:, None] * x[None, :])
        disc = half_b * half_b - dd * norm2
        t = (np.sqrt(np.maximum(disc, 0)) - half_b) * (1 / dd)
        hit = disc > 0
        if part.clip_normal is not None:
            n = part.clip_normal @ r
            plane = (x * float(n[0]))[None, :] + (y * float(n[1]))[:, None] + t * float(n[2])
            hit &= plane >= part.clip_offset
        depth = depth_offset + s * t
        depth_view, part_view = buffer.depth[r0:r1, c0:c1], buffer.part[r0:r1, c0:c1]
        win = hit & (depth > depth_view)
        np.copyto(depth_view, depth, where=win)
        np.copyto(part_view, first_id + k, where=win)
    return tuple(touched)
