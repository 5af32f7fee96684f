"""ETH-XGaze (Zhang et al. 2020): normalised 224×224 face patches of 110 subjects from 18 cameras.

Expected folder (``--src``)::

    xgaze_224/
      train_test_split.json        {"train": ["subject0000.h5", …], "test": […], "test_person_specific": […]}
      train/subject0000.h5 …       face_patch (N,224,224,3) uint8 BGR, face_head_pose (N,2), face_gaze (N,2),
      test/subject0001.h5 …        frame_index (N,1), cam_index (N,1), face_mat_norm (N,3,3)
                                   (test files lack face_gaze)

``face_head_pose`` = [pitch, yaw] in radians in the normalised camera frame. They are the spherical
angles of the head's z axis, not 3DDFA's Euler angles: the canonical yaw and pitch are computed
exactly from them (``hpbench.pose`` convention ``eth-xgaze``; same signs, equal for small angles,
e.g. ETH (30°, 60°) is canonical yaw 48.6°, pitch 49.1°); roll is NaN. The raw values are kept in
``meta/eth_pitch`` and ``meta/eth_yaw`` (degrees) for protocols that score ETH's own angles. Patches
are stored as lossless PNG; the face box is the whole patch. Files are read one block of rows at a
time, subject by subject: the real training set is hundreds of GB.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import h5py
import numpy as np

from hpbench.converters import Converter, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.counts import PublishedCount
from hpbench.errors import BadSourceFile, HpbenchError, NotTheDataset
from hpbench.format import Layout, Sample
from hpbench.pose import get_convention

LAYOUT = Layout(
    dataset="xgaze",
    pose_angles=("yaw", "pitch"),
    box_sources=("patch",),
    meta={"subject": "int", "camera": "int", "frame": "int", "native_split": "str", "eth_pitch": "float",
          "eth_yaw": "float"},
)
REQUIRED_KEYS = ("face_patch", "face_head_pose", "frame_index", "cam_index")
ROWS_PER_ITEM = 256
_SUBJECT = re.compile(r"^subject(\d+)\.h5$")


def read_split(path: Path) -> dict[str, str]:
    """subject file name → split name, from ``train_test_split.json`` (any keys, e.g. an extra "val")."""
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HpbenchError(f"{path}: not a readable split file ({err})") from None
    if not isinstance(content, dict) or not all(isinstance(v, list) for v in content.values()):
        raise HpbenchError(f"{path}: expected an object of lists of subject file names")
    return {str(name).strip(): split for split, names in content.items() for name in names if str(name).strip()}


def _rows(path: Path) -> int:
    """Rows of a subject file; every problem becomes BadSourceFile naming it."""
    try:
        with h5py.File(path, "r") as handle:
            missing = [key for key in REQUIRED_KEYS if key not in handle]
            if missing:
                raise BadSourceFile(path, f"has no {', '.join(missing)} dataset (found: {', '.join(sorted(handle))})")
            patch = handle["face_patch"]
            rows = patch.shape[0] if patch.ndim else 0
            if patch.ndim != 4 or patch.shape[3] != 3 or min(patch.shape[1:3]) < 1 or patch.dtype != np.uint8:
                raise BadSourceFile(path, f"face_patch is {patch.dtype} of shape {patch.shape}, expected uint8 "
                                          "(N, height, width, 3) BGR patches")
            if handle["face_head_pose"].shape != (rows, 2):
                raise BadSourceFile(path, f"face_head_pose has shape {handle['face_head_pose'].shape}, expected ({rows}, 2)")
            short = [key for key in ("frame_index", "cam_index") if handle[key].shape[0] != rows]
            if short:
                raise BadSourceFile(path, f"{' and '.join(short)} hold(s) {handle[short[0]].shape[0]} rows, "
                                          f"face_patch {rows}: one per patch expected")
            return rows
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
        raise BadSourceFile(path, f"is not a readable HDF5 file ({type(err).__name__}: {err})") from None


def find_sources(src: Path) -> Sources:
    files = sorted(p for folder in ("train", "test") for p in (src / folder).glob("subject*.h5"))
    if not files:
        nested = [p for p in src.iterdir() if p.is_dir() and (p / "train").is_dir()] if src.is_dir() else []
        hint = f" Did you mean --src {nested[0]}?" if nested else ""
        raise NotTheDataset(f"{src} does not look like ETH-XGaze: no train/ or test/ subjectNNNN.h5 in it.{hint}")
    split_file = src / "train_test_split.json"
    splits = read_split(split_file) if split_file.is_file() else {}
    items = []
    for path in files:
        split = splits.get(path.name, "unlisted" if splits else path.parent.name)
        subject = int(_SUBJECT.match(path.name)[1]) if _SUBJECT.match(path.name) else -1
        relative = f"{path.parent.name}/{path.name}"
        try:
            rows = _rows(path)
        except BadSourceFile as err:
            items.append(SourceItem(key=relative, files=(str(path),), info=err))
            continue
        for start in range(0, rows, ROWS_PER_ITEM):
            stop = min(rows, start + ROWS_PER_ITEM)
            items.append(SourceItem(key=relative, files=(str(path),), info=(subject, split, start, stop),
                                    count=stop - start))
    notes = {f"subject files listed as {split}": sum(s == split for s in splits.values())
             for split in sorted(set(splits.values()))}
    notes["subject files found"] = len(files)
    return Sources(LAYOUT, items, notes=notes)


def read(item: SourceItem) -> list[Sample]:
    subject, split, start, stop = item.info
    path = item.paths[0]
    try:
        with h5py.File(path, "r") as handle:
            patches = handle["face_patch"][start:stop]
            eth = np.degrees(np.asarray(handle["face_head_pose"][start:stop], dtype=np.float64))
            frames = np.asarray(handle["frame_index"][start:stop]).reshape(-1)
            cameras = np.asarray(handle["cam_index"][start:stop]).reshape(-1)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        raise BadSourceFile(path, f"rows {start}–{stop - 1} cannot be read ({type(err).__name__}: {err})") from None
    ypr = get_convention("eth-xgaze").to_canonical(eth)
    samples = []
    for row, patch in enumerate(patches):
        height, width = patch.shape[:2]
        samples.append(
            Sample(
                key=f"{item.key}#{start + row:06d}",
                image=cv2.imencode(".png", patch)[1].tobytes(),
                image_format="png",
                height=height,
                width=width,
                ypr=ypr[row],
                boxes={"patch": np.array([0.0, 0.0, width, height])},
                meta={"subject": subject, "camera": int(cameras[row]), "frame": int(frames[row]),
                      "native_split": split, "eth_pitch": float(eth[row, 0]), "eth_yaw": float(eth[row, 1])},
            )
        )
    return samples


def count_training_subjects(data) -> int:
    training = ~np.char.startswith(data.meta("native_split").astype(str), "test")
    return len(set(data.meta("subject")[training]))


register(Converter(
    name="xgaze", find_sources=find_sources, read=read, reference_box="patch",
    published=(PublishedCount("training subjects", 80, count_training_subjects,
                              "subjects outside the test splits; the ST-ED split file moves 2 into 'val'"),),
    synthetic=SyntheticSample("xgaze", n=90, seed=6, size=112),
    citation="Zhang et al., ETH-XGaze: A Large Scale Dataset for Gaze Estimation under Extreme Head Pose "
             "and Gaze Variation, ECCV 2020",
))
