"""Synthetic CMU Panoptic in the panoptic-toolbox layout: one person turning over the whole circle,
seen by HD cameras all around.

    OUT/
      synth_pose1/
        calibration_synth_pose1.json     8 HD cameras on a ring (and 2 VGA ones the converter skips)
        hdFace3d/faceRecon3D_hd00000300.json …
        hdImgs/00_00/00_00_00000300.jpg …

Quirks reproduced: the calibration's ``t`` as a column ([[x], [y], [z]]) in centimetres, a world with
y pointing down, cameras of other types, five distortion terms, face frames numbered with gaps, a
second person in one frame whose alignment landmarks score below 0.1 (left out), one camera's image
missing for one frame (left out). The 14 alignment landmarks are the reference head's points moved by
the person's known rotation, so the converter's rule must give back exactly the rotation each camera
sees; the other face70 points come from the synthetic head. Each camera's image shows the head at its
pose (from behind: hair, ears, nape) at the projection of the head centre.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from hpbench.converters.panoptic import (
    FACE70_POINTS,
    MODEL_POINTS,
    REFERENCE_HEAD,
    SPHERE_CENTRE,
    face_of,
    head_in_world,
    head_pose,
    project,
)
from hpbench.pose import rotation_from_ypr, ypr_from_rotation
from hpbench.synth.head import HeadModel
from hpbench.synth.raycast import Placement
from hpbench.synth.scene import HeadInstance, Lighting, render_scene
from hpbench.synth.writers import TruthRecord, register_writer, render_records, sample_rng

SEQUENCE, CAMERAS, RING_CM, CAMERA_HEIGHT_CM, HEAD_HEIGHT_CM = "synth_pose1", 8, 280.0, -170.0, -160.0
CM_PER_UNIT = 9.5  # synthetic head units to centimetres
FIRST_FRAME, FRAME_STEP = 300, 30


def _camera(index: int, width: int, height: int, rng) -> dict:
    """An HD camera on the ring looking at the person (OpenCV axes; world y points down)."""
    angle = 2 * np.pi * index / CAMERAS
    centre = np.array([RING_CM * np.sin(angle), CAMERA_HEIGHT_CM, RING_CM * np.cos(angle)])
    forward = np.array([0.0, HEAD_HEIGHT_CM, 0.0]) - centre
    forward /= np.linalg.norm(forward)
    down = np.array([0.0, 1.0, 0.0]) - forward[1] * forward
    down /= np.linalg.norm(down)
    rotation = np.stack([np.cross(down, forward), down, forward])
    focal = 1.3 * width * rng.uniform(0.97, 1.03)
    return {"name": f"00_{index:02d}", "type": "hd", "resolution": [width, height], "panel": 0, "node": index,
            "K": [[focal, 0.0, width / 2 + rng.uniform(-3, 3)], [0.0, focal, height / 2 + rng.uniform(-3, 3)],
                  [0.0, 0.0, 1.0]],
            "distCoef": [float(v) for v in rng.uniform(-0.02, 0.02, 5) * [1, 0.1, 0.01, 0.01, 0.01]],
            "R": rotation.tolist(), "t": (-rotation @ centre).reshape(3, 1).tolist()}


def _as_arrays(camera: dict) -> dict:
    return {"K": np.array(camera["K"]), "distCoef": np.array(camera["distCoef"]), "R": np.array(camera["R"]),
            "t": np.array(camera["t"]).reshape(3), "resolution": tuple(camera["resolution"])}


def _head_rotation(rng) -> np.ndarray:
    """Reference-head frame (x: subject's left, y up, z out of the face) → world (y down): facing a
    direction anywhere on the circle, with some pitch and roll."""
    facing = rng.uniform(-np.pi, np.pi)
    up, front = np.array([0.0, -1.0, 0.0]), np.array([np.sin(facing), 0.0, np.cos(facing)])
    upright = np.stack([np.cross(up, front), up, front], axis=1)
    return upright @ rotation_from_ypr([0.0, rng.uniform(-30, 30), rng.uniform(-20, 20)])


def _face70(head: HeadModel, rotation: np.ndarray, centre: np.ndarray, rng, low_scores: bool) -> tuple[list, list]:
    """70 landmarks (world cm) and their scores: the 14 alignment points from the reference head, the
    rest from the synthetic head, the pupils last."""
    origin = centre - rotation @ SPHERE_CENTRE  # the reference head's sphere centred on the head
    synthetic = np.concatenate([head.landmarks["68"], [eye.center for eye in head.eyes]]) * CM_PER_UNIT
    points = centre + synthetic @ rotation.T
    points[FACE70_POINTS] = origin + REFERENCE_HEAD[MODEL_POINTS] @ rotation.T
    scores = rng.uniform(0.3, 0.95, 70)
    if low_scores:
        scores[FACE70_POINTS[:9]] = rng.uniform(0.0, 0.09, 9)
    return points.reshape(-1).tolist(), scores.tolist()


def _render_frame(task) -> list[TruthRecord]:
    out, seed, step, cameras, size, missing_camera = task
    rng = sample_rng(seed, step)
    head = HeadModel.random(np.random.default_rng([seed, 7]))
    frame = FIRST_FRAME + FRAME_STEP * step + (FRAME_STEP if step >= 2 else 0)  # a gap, as face frames have
    rotation = _head_rotation(rng)
    centre = np.array([rng.uniform(-20, 20), HEAD_HEIGHT_CM + rng.uniform(-5, 5), rng.uniform(-20, 20)])
    people = [(3, *_face70(head, rotation, centre, rng, low_scores=False))]
    if step == 1:  # a second person whose alignment landmarks the studio scored too low
        people.append((8, *_face70(head, _head_rotation(rng), centre + [60.0, 0.0, 0.0], rng, low_scores=True)))
    folder = out / SEQUENCE
    face_file = folder / "hdFace3d" / f"faceRecon3D_hd{frame:08d}.json"
    face_file.write_text(json.dumps({"version": 0.7, "univTime": 1000.0 + frame, "people": [
        {"id": pid, "face70": {"landmarks": landmarks, "averageScore": scores, "visibility": []}}
        for pid, landmarks, scores in people]}))
    fits = {pid: head_in_world(np.array(lm).reshape(70, 3), np.array(sc)) for pid, lm, sc in people}
    lighting, shirt = Lighting.random(rng), rng.uniform(0, 255, 3).astype(np.float32)
    records = []
    for camera in cameras:
        arrays, name = _as_arrays(camera), camera["name"]
        image = f"{SEQUENCE}/hdImgs/{name}/{name}_{frame:08d}.jpg"
        if 8 in fits:  # its reason, for every camera
            records.append(TruthRecord(key=f"{image}#8", excluded=fits[8]))
        face = face_of(arrays, fits[3], f"{image}#3", (SEQUENCE, name, frame, 3))
        if isinstance(face, str) or name == missing_camera:  # left out by the rule (a side view …) or unseen
            why = face if isinstance(face, str) else "HD image missing"
            records.append(TruthRecord(key=f"{image}#3", excluded=why))
        else:
            records.append(TruthRecord(key=face["key"], ypr=face["ypr"], boxes={"sphere": face["box"]},
                                       meta=face["meta"]))
        if name == missing_camera:
            continue
        ypr = ypr_from_rotation(head_pose(arrays, fits[3][0]))  # any triple of the rotation draws it
        depth = (arrays["R"] @ centre + arrays["t"])[2]
        u, v = project(centre[None], arrays)[0]
        width, height = arrays["resolution"]
        instance = HeadInstance(head, ypr, Placement(arrays["K"][0, 0] * CM_PER_UNIT / depth, u, v), lighting, shirt)
        picture, _ = render_scene([instance], height, width, rng)
        cv2.imwrite(str(out / image), picture, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return records


@register_writer("panoptic")
def write_panoptic(out: Path, n: int, seed: int = 0, size: int | None = None, workers: int = 1, progress=None):
    """``n`` images (frames × 8 cameras, at least one frame); ``size`` is the image width (default 480),
    the height 9/16 of it as the HD frames are."""
    width = size or 480
    height = round(width * 9 / 16)
    rng = sample_rng(seed, 10_000)
    cameras = [_camera(i, width, height, rng) for i in range(CAMERAS)]
    others = [{"name": f"{panel:02d}_01", "type": "vga", "resolution": [640, 480], "panel": panel, "node": 1,
               "K": cameras[0]["K"], "distCoef": cameras[0]["distCoef"], "R": cameras[0]["R"], "t": cameras[0]["t"]}
              for panel in (1, 2)]
    folder = out / SEQUENCE
    (folder / "hdFace3d").mkdir(parents=True)
    for camera in cameras:
        (folder / "hdImgs" / camera["name"]).mkdir(parents=True)
    (folder / f"calibration_{SEQUENCE}.json").write_text(json.dumps({"calibDataSource": "synthetic",
                                                                      "cameras": others + cameras}))
    frames = max(1, -(-n // CAMERAS))
    tasks = [(out, seed, step, cameras, size, cameras[-1]["name"] if step == frames - 1 and frames > 1 else None)
             for step in range(frames)]
    return render_records(_render_frame, tasks, workers, progress, chunk_size=1)
