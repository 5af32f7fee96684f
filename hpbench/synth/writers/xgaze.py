"""Synthetic ETH-XGaze (the 224-pixel normalised release).

    OUT/
      train_test_split.json     {"train": [...], "test": [...], "test_person_specific": [...]}
      train/subject0000.h5 …    face_patch (N,224,224,3) uint8 BGR (lzf, one patch per chunk),
      test/subject0001.h5 …     face_head_pose (N,2) float64 [pitch, yaw] radians, face_gaze (N,2)
                                float64 (train only), frame_index (N,1) int64, cam_index (N,1) int64,
                                face_mat_norm (N,3,3) float64, facial_landmarks (N,68,2) float64

Each subject is one synthetic person seen in frames by cameras 0–17. The normalised head has no roll;
``face_head_pose`` holds the spherical angles of the head's z axis (hpbench.pose convention
``eth-xgaze``), as ETH-XGaze's normalisation computes them. A quarter of the subjects are test files.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from hpbench.pose import get_convention
from hpbench.synth.head import HeadModel
from hpbench.synth.raycast import Placement
from hpbench.synth.scene import random_instance, render_scene
from hpbench.synth.writers import TruthRecord, register_writer, render_records, sample_rng

CAMERAS = 18
PER_SUBJECT = 40
TEST_EVERY = 4  # subjects 1, 5, 9, … are test subjects


def subject_plan(n: int) -> list[tuple[int, str, int]]:
    """(subject number, folder, rows) for n samples: subjects of 40 rows, every 4th a test subject."""
    plan, subject, left = [], 0, n
    while left > 0:
        rows = min(PER_SUBJECT, left)
        plan.append((subject, "test" if subject % TEST_EVERY == 1 else "train", rows))
        left -= rows
        subject += 1
    return plan


def _render_subject(task: tuple[Path, int, int, str, int, int]) -> list[TruthRecord]:
    out, seed, subject, folder, rows, size = task
    rng = sample_rng(seed, subject)
    head = HeadModel.random(rng)
    convention = get_convention("eth-xgaze")
    patches = np.zeros((rows, size, size, 3), np.uint8)
    eth = np.zeros((rows, 2))
    landmarks = np.zeros((rows, 68, 2))
    frames = np.repeat(np.arange(rows // CAMERAS + 1), CAMERAS)[:rows] + 1
    cameras = np.tile(np.arange(CAMERAS), rows // CAMERAS + 1)[:rows]
    for row in range(rows):
        ypr = np.array([rng.uniform(-80, 80), rng.uniform(-50, 50), 0.0])
        placement = Placement(size * rng.uniform(0.3, 0.36), size / 2, size / 2)
        instance = random_instance(rng, ypr, size, size, head=head, placement=placement)
        image, (labels,) = render_scene([instance], size, size, rng)
        patches[row], landmarks[row] = image, labels.landmarks68
        eth[row] = np.radians(convention.from_canonical(ypr))
    name = f"subject{subject:04d}.h5"
    (out / folder).mkdir(exist_ok=True)
    with h5py.File(out / folder / name, "w") as handle:
        handle.create_dataset("face_patch", data=patches, compression="lzf", chunks=(1, size, size, 3))
        handle.create_dataset("face_head_pose", data=eth, dtype=np.float64, chunks=(1, 2))
        if folder == "train":
            gaze = eth + rng.normal(0, 0.2, eth.shape)
            handle.create_dataset("face_gaze", data=gaze, dtype=np.float64, chunks=(1, 2))
        handle.create_dataset("frame_index", data=frames.reshape(-1, 1).astype(np.int64), chunks=(1, 1))
        handle.create_dataset("cam_index", data=cameras.reshape(-1, 1).astype(np.int64), chunks=(1, 1))
        handle.create_dataset("face_mat_norm", data=np.tile(np.eye(3), (rows, 1, 1)), chunks=(1, 3, 3))
        handle.create_dataset("facial_landmarks", data=landmarks, chunks=(1, 68, 2))
    canonical = convention.to_canonical(np.degrees(eth))
    split = "train" if folder == "train" else "test"
    return [
        TruthRecord(
            key=f"{folder}/{name}#{row:06d}",
            ypr=canonical[row],
            boxes={"patch": np.array([0.0, 0.0, size, size])},
            meta={"subject": subject, "camera": int(cameras[row]), "frame": int(frames[row]), "native_split": split,
                  "eth_pitch": float(np.degrees(eth[row, 0])), "eth_yaw": float(np.degrees(eth[row, 1]))},
        )
        for row in range(rows)
    ]


@register_writer("xgaze")
def write_xgaze(out: Path, n: int, seed: int = 0, size: int = 224, workers: int = 1, progress=None):
    """``n`` face patches over subjects of 40; see the module docstring."""
    plan = subject_plan(n)
    tasks = [(out, seed, subject, folder, rows, size) for subject, folder, rows in plan]
    records = render_records(_render_subject, tasks, workers, progress, chunk_size=1)
    split = {"train": [], "test": [], "test_person_specific": []}
    for subject, folder, _ in plan:
        split[folder].append(f"subject{subject:04d}.h5")
    (out / "train_test_split.json").write_text(json.dumps(split, indent=1) + "\n")
    return records
