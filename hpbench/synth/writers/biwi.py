"""Synthetic BIWI Kinect Head Pose in the release layout.

    OUT/                                  (the hpdb folder)
      01/ rgb.cal  depth.cal  frame_00003_rgb.png  frame_00003_pose.txt  frame_00003_depth.bin  …
      …  24/
      01.obj … 24.obj

Quirks reproduced: 24 sequence folders; frame numbers that start above 0 and skip; sequences 15,
18, 21 and 22 show the same synthetic person as the sequence they repeat; ``pose.txt`` written as the
release writes it (three rows, a blank line, the centre, six significant digits); ``rgb.cal`` /
``depth.cal`` with intrinsics, a distortion line, R and t and the image size; the run-length
``depth.bin`` (head pixels only, in millimetres); a head mesh per sequence (``NN.obj``).

The head is drawn with weak perspective (orthographic at the head centre's depth) at the RGB
projection of its centre; the pose label is the rotation matrix written to ``pose.txt``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from hpbench.converters.biwi import HEAD_RADIUS_MM, SEQUENCE_PERSON, project_point, sphere_box
from hpbench.errors import HpbenchError
from hpbench.pose import get_convention, rotation_from_ypr
from hpbench.synth.background import random_background
from hpbench.synth.head import HeadModel
from hpbench.synth.raycast import DepthBuffer, Placement, cast_ellipsoids
from hpbench.synth.scene import HeadInstance, Lighting, render_scene
from hpbench.synth.writers import TruthRecord, register_writer, render_records, sample_rng

WIDTH, HEIGHT = 640, 480
MM_PER_UNIT = 95.0  # synthetic head units to millimetres
RGB_K = np.array([[517.679, 0, 320], [0, 517.679, 240.5], [0, 0, 1]])
DEPTH_K = np.array([[575.816, 0, 320], [0, 575.816, 240], [0, 0, 1]])
SEQUENCES = 24


def _format_row(values) -> str:
    return " ".join(f"{v:.6g}" for v in values) + " \n"


def write_calibration(path: Path, k: np.ndarray, r: np.ndarray, t: np.ndarray) -> None:
    text = "".join(_format_row(row) for row in k) + "\n" + _format_row([0, 0, 0, 0]) + "\n"
    text += "".join(_format_row(row) for row in r) + "\n" + _format_row(t) + "\n" + f"{WIDTH} {HEIGHT}\n"
    path.write_text(text)


def read_back(text_rows: str) -> np.ndarray:
    return np.array([float(v) for v in text_rows.split()])


def encode_depth(depth_mm: np.ndarray) -> bytes:
    """BIWI's run-length format: int32 width, height, then [int32 empty, int32 full, full × int16]."""
    flat = depth_mm.reshape(-1).astype(np.int16)
    filled = np.concatenate([[False], flat != 0, [False]])
    edges = np.flatnonzero(np.diff(filled.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    parts = [struct.pack("<ii", depth_mm.shape[1], depth_mm.shape[0])]
    position = 0
    for start, stop in zip(starts, stops):
        parts.append(struct.pack("<ii", start - position, stop - start))
        parts.append(flat[start:stop].astype("<i2").tobytes())
        position = stop
    if position < flat.size:
        parts.append(struct.pack("<ii", flat.size - position, 0))
    return b"".join(parts)


def _write_obj(path: Path, head: HeadModel) -> None:
    """A coarse mesh of the cranium ellipsoid in millimetres."""
    part = head.parts[0]
    theta, phi = np.meshgrid(np.linspace(0.1, np.pi - 0.1, 12), np.linspace(0, 2 * np.pi, 24, endpoint=False))
    unit = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], -1).reshape(-1, 3)
    vertices = (part.center + part.radii * unit) * MM_PER_UNIT
    faces = [(a * 12 + b + 1, ((a + 1) % 24) * 12 + b + 1, ((a + 1) % 24) * 12 + b + 2) for a in range(24) for b in range(11)]
    path.write_text("".join(f"v {x:.3f} {y:.3f} {z:.3f}\n" for x, y, z in vertices)
                    + "".join(f"f {a} {b} {c}\n" for a, b, c in faces))


def _person_head(seed: int, person: str) -> HeadModel:
    return HeadModel.random(np.random.default_rng([seed, *person.encode()]))


def _render_sequence(task: tuple[Path, int, int, int]) -> list[TruthRecord]:
    out, seed, sequence, frames = task
    rng = sample_rng(seed, sequence)
    person = SEQUENCE_PERSON[sequence]
    head = _person_head(seed, person)
    folder = out / f"{sequence:02d}"
    folder.mkdir(parents=True)
    rgb_r = rotation_from_ypr(rng.uniform(-0.8, 0.8, 3))
    rgb_t = np.array([-24.0, 5.9, -13.2]) + rng.uniform(-1, 1, 3)
    write_calibration(folder / "rgb.cal", RGB_K, rgb_r, rgb_t)
    write_calibration(folder / "depth.cal", DEPTH_K, np.eye(3), np.zeros(3))
    calibration = (RGB_K, read_back(" ".join(f"{v:.6g}" for v in rgb_r.ravel())).reshape(3, 3),
                   read_back(" ".join(f"{v:.6g}" for v in rgb_t)))
    _write_obj(out / f"{sequence:02d}.obj", head)
    background = random_background(rng, HEIGHT, WIDTH)
    lighting, shirt = Lighting.random(rng), rng.uniform(0, 255, 3).astype(np.float32)
    amplitude, phase = rng.uniform([40, 25, 20], [75, 55, 40]), rng.uniform(0, 2 * np.pi, 3)
    centre0 = np.array([rng.uniform(-60, 60), rng.uniform(-40, 40), rng.uniform(850, 1050)])
    frame, records = int(rng.integers(0, 5)), []
    for step in range(frames):
        frame += int(rng.integers(1, 4))  # frame numbers skip, as in the release
        ypr = amplitude * np.sin(0.35 * step + phase)
        rotation = get_convention("biwi").from_canonical(ypr)
        centre = centre0 + rng.normal(0, 5, 3)
        name = f"frame_{frame:05d}"
        pose_text = "".join(_format_row(row) for row in rotation) + "\n" + _format_row(centre) + "\n"
        (folder / f"{name}_pose.txt").write_text(pose_text)
        written = read_back(pose_text)
        rotation, centre = written[:9].reshape(3, 3), written[9:12]
        ypr = get_convention("biwi").to_canonical(rotation)
        rgb_centre = project_point(centre, calibration)
        depth_rgb = (calibration[1] @ centre + calibration[2])[2]
        instance = HeadInstance(head, ypr, Placement(RGB_K[0, 0] * MM_PER_UNIT / depth_rgb, *rgb_centre), lighting, shirt)
        image, (labels,) = render_scene([instance], HEIGHT, WIDTH, rng, background=background)
        cv2.imwrite(str(folder / f"{name}_rgb.png"), image)
        (folder / f"{name}_depth.bin").write_bytes(encode_depth(_depth_frame(head, ypr, centre)))
        records.append(TruthRecord(
            key=f"{sequence:02d}/{name}_rgb.png",
            ypr=ypr,
            head_box=labels.head_box,
            boxes={"projected": sphere_box(centre, HEAD_RADIUS_MM, calibration)},
            meta={"sequence": sequence, "person": person, "frame": frame, "head_center_x": rgb_centre[0],
                  "head_center_y": rgb_centre[1]},
        ))
    return records


def _depth_frame(head: HeadModel, ypr: np.ndarray, centre_mm: np.ndarray) -> np.ndarray:
    """Head depth in millimetres as the depth camera (identity extrinsics) sees it; 0 elsewhere."""
    pixel = DEPTH_K @ centre_mm / centre_mm[2]
    placement = Placement(DEPTH_K[0, 0] * MM_PER_UNIT / centre_mm[2], pixel[0], pixel[1])
    buffer = DepthBuffer(HEIGHT, WIDTH)
    cast_ellipsoids(buffer, head.parts, rotation_from_ypr(ypr), placement)
    seen = np.isfinite(buffer.depth)
    depth = np.zeros((HEIGHT, WIDTH), np.int16)
    depth[seen] = np.round(centre_mm[2] - buffer.depth[seen] / placement.scale * MM_PER_UNIT)
    return depth


@register_writer("biwi")
def write_biwi(out: Path, n: int, seed: int = 0, size: int | None = None, workers: int = 1, progress=None):
    """``n`` frames over the 24 sequences (at least one each when n ≥ 24); images are 640×480."""
    if size is not None:
        raise HpbenchError("BIWI frames are 640×480: --size does not apply")
    per_sequence = np.full(SEQUENCES, n // SEQUENCES) + (np.arange(SEQUENCES) < n % SEQUENCES)
    tasks = [(out, seed, sequence, int(count)) for sequence, count in zip(range(1, SEQUENCES + 1), per_sequence)
             if count > 0]
    return render_records(_render_sequence, tasks, workers, progress, chunk_size=1)
