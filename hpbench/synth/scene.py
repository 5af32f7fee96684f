"""Render synthetic heads into images with exact pose, landmark and box labels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hpbench.pose import rotation_from_ypr
from hpbench.synth.background import random_background
from hpbench.synth.head import HeadModel
from hpbench.synth.raycast import DepthBuffer, Placement, cast_ellipsoids, project

VISIBILITY_TOLERANCE = 0.04  # head units: a landmark this far behind the visible surface is occluded


@dataclass
class Lighting:
    ambient: float
    diffuse: float
    specular: float
    direction: np.ndarray  # unit vector in the camera frame (towards the light)
    tint: np.ndarray  # per-channel RGB gain

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Lighting":
        direction = np.array([rng.uniform(-0.7, 0.7), rng.uniform(-0.3, 0.8), rng.uniform(0.5, 1.0)])
        return cls(
            ambient=float(rng.uniform(0.35, 0.6)),
            diffuse=float(rng.uniform(0.45, 0.8)),
            specular=float(rng.uniform(0.0, 0.25)),
            direction=direction / np.linalg.norm(direction),
            tint=rng.uniform(0.92, 1.08, 3).astype(np.float32),
        )


@dataclass
class HeadInstance:
    """One head placed in a scene."""

    head: HeadModel
    ypr: np.ndarray
    placement: Placement
    lighting: Lighting
    shirt: np.ndarray  # RGB

    def __post_init__(self):
        self.ypr = np.asarray(self.ypr, float)
        self.rotation = rotation_from_ypr(self.ypr)


@dataclass
class HeadLabels:
    """Exact labels of one rendered head, in the output image's pixels."""

    ypr: np.ndarray  # (3,) canonical degrees
    placement: Placement
    landmarks68: np.ndarray  # (68, 2) u, v
    depth68: np.ndarray  # (68,) depth in pixels (larger is nearer)
    landmarks21: np.ndarray  # (21, 2)
    visible21: np.ndarray  # (21,) bool: not hidden by the head itself and inside the image
    head_box: np.ndarray  # (4,) x1 y1 x2 y2 pixel edges of every pixel the head covers


def render_scene(
    instances: list[HeadInstance],
    height: int,
    width: int,
    rng: np.random.Generator,
    supersample: int | None = None,
    torso: bool = True,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, list[HeadLabels]]:
    """A BGR uint8 image with the given heads over a background, and each head's labels.

    Heads are drawn in list order into one depth buffer, each in front of the previous ones.
    ``supersample`` renders at that factor and averages down (default: 2 below 160 px, else 1).
    ``background`` (height·factor, width·factor, 3) replaces the random one, e.g. to share it
    between views of one identity.
    """
    factor = supersample or default_supersample(height, width)
    if background is None:
        canvas = random_background(rng, height * factor, width * factor)
    else:
        canvas = background.copy()
    buffer = DepthBuffer(height * factor, width * factor)
    touched = []
    for index, instance in enumerate(instances):
        placement = instance.placement.supersampled(factor)
        if torso:
            _draw_torso(canvas, placement, instance.head.skin * 0.7, instance.shirt)
        first_id = index * 32
        offset = index * 1e4  # later heads are nearer
        box = cast_ellipsoids(buffer, instance.head.parts, instance.rotation, placement, first_id, offset)
        _shade(canvas, buffer, box, instance, placement, first_id, offset)
        touched.append(box)
    image = canvas if factor == 1 else cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    labels = [
        _labels(instance, buffer, box, factor, index * 32, index * 1e4, height, width)
        for index, (instance, box) in enumerate(zip(instances, touched))
    ]
    return image, labels


def default_supersample(height: int, width: int) -> int:
    return 2 if min(height, width) < 160 else 1


def _draw_torso(canvas: np.ndarray, placement: Placement, neck_rgb: np.ndarray, shirt_rgb: np.ndarray) -> None:
    """Neck and shoulders, upright in the camera frame (they do not turn with the head)."""
    s, cx, cy = placement.scale, placement.cx, placement.cy
    shirt = tuple(float(c) for c in shirt_rgb[::-1])
    centre = (int(round(cx)), int(round(cy + 2.0 * s)))
    cv2.ellipse(canvas, centre, (int(1.7 * s), int(0.75 * s)), 0, 0, 360, shirt, -1)
    neck = np.array([[cx - 0.3 * s, cy + 0.5 * s], [cx + 0.3 * s, cy + 0.5 * s],
                     [cx + 0.34 * s, cy + 1.35 * s], [cx - 0.34 * s, cy + 1.35 * s]])
    cv2.fillConvexPoly(canvas, np.round(neck).astype(np.int32), tuple(float(c) for c in neck_rgb[::-1]))


def _shade(canvas, buffer, box, instance: HeadInstance, placement: Placement, first_id: int, offset: float) -> None:
    r0, r1, c0, c1 = box
    if r0 >= r1:
        return
    ids = buffer.part[r0:r1, c0:c1]
    parts = instance.head.parts
    rows, cols = np.nonzero((ids >= first_id) & (ids < first_id + len(parts)))
    if rows.size == 0:
        return
    rows += r0
    cols += c0
    part = buffer.part[rows, cols].astype(np.intp) - first_id
    s, r = placement.scale, instance.rotation.astype(np.float32)
    camera = np.empty((rows.size, 3), np.float32)  # camera-frame point in head units
    camera[:, 0] = (cols - placement.cx) / s
    camera[:, 1] = (placement.cy - rows) / s
    camera[:, 2] = (buffer.depth[rows, cols] - offset) / s
    q = camera @ r.T
    centres = np.array([p.center for p in parts], np.float32)
    inverse_sq = (1 / np.array([p.radii for p in parts]) ** 2).astype(np.float32)
    normal = ((q - centres[part]) * inverse_sq[part]) @ r  # back to the camera frame
    normal *= (1 / np.sqrt(np.einsum("ij,ij->i", normal, normal)))[:, None]
    light = instance.lighting
    half = light.direction + np.array([0, 0, 1.0])
    shine = np.clip(normal @ (half / np.linalg.norm(half)).astype(np.float32), 0, None)
    shine *= shine
    shine *= shine
    shine *= shine  # eighth power; twice more gives a tighter highlight
    shine *= shine
    gain = light.ambient + light.diffuse * np.clip(normal @ light.direction.astype(np.float32), 0, None)
    rgb = instance.head.albedo(q, part) * gain[:, None]
    rgb *= light.tint
    rgb += (255 * light.specular) * shine[:, None]
    canvas[rows, cols] = np.clip(rgb[:, ::-1], 0, 255).astype(np.uint8)


def _labels(instance, buffer, box, factor, first_id, offset, height, width) -> HeadLabels:
    rotation = instance.rotation
    landmarks68, depth68 = project(instance.head.landmarks["68"], rotation, instance.placement)
    landmarks21, depth21 = project(instance.head.landmarks["21"], rotation, instance.placement)
    visible21 = _visible(landmarks21, depth21, buffer, factor, offset, instance.placement.scale, height, width)
    r0, r1, c0, c1 = box
    ids = buffer.part[r0:r1, c0:c1]
    rows, cols = np.nonzero((ids >= first_id) & (ids < first_id + len(instance.head.parts)))
    shift = (factor - 1) / 2
    if rows.size:
        edges = np.array([cols.min() + c0 - 0.5, rows.min() + r0 - 0.5, cols.max() + c0 + 0.5, rows.max() + r0 + 0.5])
        head_box = np.clip((edges - shift) / factor, -0.5, [width - 0.5, height - 0.5] * 2)
    else:
        head_box = np.full(4, np.nan)
    return HeadLabels(
        ypr=np.asarray(instance.ypr, float),
        placement=instance.placement,
        landmarks68=landmarks68,
        depth68=depth68,
        landmarks21=landmarks21,
        visible21=visible21,
        head_box=head_box,
    )


def _visible(uv, depth, buffer, factor, offset, scale, height, width) -> np.ndarray:
    inside = (uv[:, 0] >= 0) & (uv[:, 0] <= width - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= height - 1)
    shift = (factor - 1) / 2
    col = np.clip(np.round(uv[:, 0] * factor + shift).astype(int), 0, buffer.shape[1] - 1)
    row = np.clip(np.round(uv[:, 1] * factor + shift).astype(int), 0, buffer.shape[0] - 1)
    seen = buffer.depth[row, col]
    return inside & (offset + depth * factor >= seen - VISIBILITY_TOLERANCE * scale * factor)


def random_instance(
    rng: np.random.Generator,
    ypr,
    height: int,
    width: int,
    head: HeadModel | None = None,
    scale_range: tuple[float, float] = (0.26, 0.34),
    placement: Placement | None = None,
) -> HeadInstance:
    """A head at the given pose with random looks and light; by default near the image centre,
    filling about 40–50 % of the image width."""
    if placement is None:
        scale = min(height, width) * rng.uniform(*scale_range)
        centre = (width * (0.5 + rng.uniform(-0.05, 0.05)), height * (0.5 + rng.uniform(-0.03, 0.07)))
        placement = Placement(float(scale), float(centre[0]), float(centre[1]))
    return HeadInstance(
        head=head if head is not None else HeadModel.random(rng),
        ypr=np.asarray(ypr, float),
        placement=placement,
        lighting=Lighting.random(rng),
        shirt=rng.uniform(0, 255, 3).astype(np.float32),
    )


def render_face_image(rng: np.random.Generator, ypr, size: int = 450, head: HeadModel | None = None, **kwargs):
    """One square image with one head at pose ``ypr``: (BGR image, HeadLabels)."""
    instance = random_instance(rng, ypr, size, size, head=head)
    image, (labels,) = render_scene([instance], size, size, rng, **kwargs)
    return image, labels
