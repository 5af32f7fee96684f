"""Synthetic AFLW: an ``aflw.sqlite`` with the release's tables and Flickr-like images.

    OUT/
      aflw.sqlite
      flickr/0/image00002.jpg  flickr/2/image00005.png  flickr/3/…

Quirks reproduced: images spread over the folders 0, 2 and 3 regardless of their number (so sorting
by file path and by basename differ), about 6 % ``.png`` files (one among the first three), images
with two or three faces whose face ids are not in left-to-right order (the second image has three),
faces without a ``FaceRect`` or without a ``FacePose`` row, and images listed in ``FaceImages`` but
absent on disk (each at least once among the first seven images). Poses are stored
in radians with AFLW's roll sign (the negative of the canonical roll). ``FeatureCoords`` holds only
the points visible in the image, as AFLW's annotators marked them.

Schema (the tables hpbench reads are exact; the columns of AnnotationType, Databases, CamPose and
NearDuplicates are best guesses, unverified without the real file).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np

from hpbench.landmarks import AFLW21
from hpbench.parallel import ordered_map
from hpbench.synth.head import HeadModel
from hpbench.synth.raycast import Placement
from hpbench.synth.scene import random_instance, render_scene
from hpbench.synth.writers import TruthRecord, register_writer, sample_rng
from hpbench.synth.writers.aflw2000 import random_pose

SCHEMA = """
CREATE TABLE AnnotationType(annot_type_id INTEGER PRIMARY KEY, description TEXT);
CREATE TABLE Databases(db_id INTEGER PRIMARY KEY, path TEXT, description TEXT);
CREATE TABLE Faces(face_id INTEGER PRIMARY KEY, file_id TEXT, db_id INTEGER);
CREATE TABLE FaceImages(image_id INTEGER PRIMARY KEY, db_id INTEGER, file_id TEXT, filepath TEXT, bw INTEGER,
                        width INTEGER, height INTEGER);
CREATE TABLE FacePose(face_id INTEGER, roll REAL, pitch REAL, yaw REAL, annot_type_id INTEGER);
CREATE TABLE CamPose(face_id INTEGER, roll REAL, pitch REAL, yaw REAL, tx REAL, ty REAL, tz REAL,
                     annot_type_id INTEGER);
CREATE TABLE FaceRect(face_id INTEGER, x INTEGER, y INTEGER, w INTEGER, h INTEGER, annot_type_id INTEGER);
CREATE TABLE FaceEllipse(face_id INTEGER, x REAL, y REAL, ra REAL, rb REAL, theta REAL, annot_type_id INTEGER,
                         upsidedown INTEGER);
CREATE TABLE FaceMetaData(face_id INTEGER, sex TEXT, occluded INTEGER, glasses INTEGER, bw INTEGER,
                          annot_type_id INTEGER);
CREATE TABLE FeatureCoordTypes(feature_id INTEGER PRIMARY KEY, descr TEXT, code TEXT, x REAL, y REAL, z REAL);
CREATE TABLE FeatureCoords(face_id INTEGER, feature_id INTEGER, x REAL, y REAL, annot_type_id INTEGER);
CREATE TABLE NearDuplicates(face_id INTEGER, duplicate_face_id INTEGER);
"""
FOLDERS = ("0", "2", "3")
SHARES = {"png": 0.06, "several_faces": 0.15, "absent": 0.03, "no_pose": 0.03, "no_rect": 0.03}


def plan(n: int, seed: int) -> list[dict]:
    """Per image: number, folder, extension, face ids (in placement order) and the quirks it carries."""
    rng = np.random.default_rng([seed, 21])
    numbers = np.sort(rng.choice(np.arange(2, max(4 * n, 60)), size=n, replace=False))
    images, next_face = [], 39_341
    for index, number in enumerate(numbers):
        faces = 3 if index == 1 else (int(rng.integers(2, 4)) if rng.uniform() < SHARES["several_faces"] else 1)
        ids = next_face + rng.permutation(faces) * 7  # not in left-to-right order
        next_face += 7 * faces + int(rng.integers(1, 5))
        images.append({
            "index": index,
            "file_id": f"image{number:05d}.{'png' if index == 2 or rng.uniform() < SHARES['png'] else 'jpg'}",
            "folder": FOLDERS[int(rng.integers(len(FOLDERS)))],
            "face_ids": [int(i) for i in ids],
            "absent": index == 4 or (index > 6 and rng.uniform() < SHARES["absent"]),
            "no_pose": [index == 5 and face == 0 or bool(rng.uniform() < SHARES["no_pose"]) for face in range(faces)],
            "no_rect": [index == 6 and face == 0 or bool(rng.uniform() < SHARES["no_rect"]) for face in range(faces)],
        })
    return images


def _placements(rng: np.random.Generator, faces: int, height: int, width: int) -> list[Placement]:
    scale = min(height, width / faces) * rng.uniform(0.2, 0.27)
    return [
        Placement(float(scale), float(width * (j + 0.5) / faces + rng.uniform(-0.05, 0.05) * width / faces),
                  float(height * rng.uniform(0.4, 0.55)))
        for j in range(faces)
    ]


def _face_rect(landmarks68: np.ndarray) -> tuple[int, int, int, int]:
    """A square around the face, as AFLW's rects are."""
    low, high = landmarks68.min(axis=0), landmarks68.max(axis=0)
    side = 1.15 * float((high - low).max())
    centre = (low + high) / 2
    return int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2)), int(round(side)), int(round(side))


def _render_image(task: tuple[Path, int, dict, int]):
    out, seed, image, size = task
    rng = sample_rng(seed, image["index"])
    width, height = size, int(round(size * rng.uniform(0.6, 1.0)))
    faces = len(image["face_ids"])
    instances = [random_instance(rng, random_pose(rng), height, width, head=HeadModel.random(rng), placement=p)
                 for p in _placements(rng, faces, height, width)]
    picture, labels = render_scene(instances, height, width, rng)
    filepath = f"{image['folder']}/{image['file_id']}"
    if not image["absent"]:
        (out / "flickr" / image["folder"]).mkdir(parents=True, exist_ok=True)
        extension = ".png" if image["file_id"].endswith(".png") else ".jpg"
        (out / "flickr" / filepath).write_bytes(cv2.imencode(extension, picture)[1].tobytes())
    rows: dict[str, list] = {table: [] for table in ("Faces", "FacePose", "FaceRect", "FaceEllipse", "FaceMetaData",
                                                      "FeatureCoords", "FaceImages")}
    rows["FaceImages"].append((image["index"] + 1, 1, image["file_id"], filepath, 0, width, height))
    records = []
    for face, (face_id, label) in enumerate(zip(image["face_ids"], labels)):
        yaw, pitch, roll = np.radians(label.ypr)
        stored = (-float(roll), float(pitch), float(yaw))  # AFLW's roll sign
        rect = _face_rect(label.landmarks68)
        rows["Faces"].append((face_id, image["file_id"], 1))
        if not image["no_pose"][face]:
            rows["FacePose"].append((face_id, *stored, 1))
        if not image["no_rect"][face]:
            rows["FaceRect"].append((face_id, *rect, 1))
        rows["FaceEllipse"].append((face_id, rect[0] + rect[2] / 2, rect[1] + rect[3] / 2, rect[2] / 2,
                                    rect[3] / 1.6, 0.0, 1, 0))
        rows["FaceMetaData"].append((face_id, "mf"[int(rng.integers(2))], 0, 0, 0, 1))
        landmarks = label.landmarks21.copy()
        landmarks[~label.visible21] = np.nan
        for feature, point in enumerate(landmarks, start=1):
            if not np.isnan(point[0]):
                rows["FeatureCoords"].append((face_id, feature, float(point[0]), float(point[1]), 1))
        excluded = ("no FacePose row" if image["no_pose"][face] else "no FaceRect row" if image["no_rect"][face]
                    else "image listed but absent on disk" if image["absent"] else "")
        name, extension = image["file_id"].rsplit(".", 1)
        records.append(TruthRecord(
            key=f"{filepath}#{face_id}",
            ypr=np.degrees([stored[2], stored[1], -stored[0]]),
            landmarks=landmarks,
            head_box=label.head_box,
            boxes={"dataset": np.array([rect[0], rect[1], rect[0] + rect[2], rect[1] + rect[3]], float)},
            meta={"face_id": face_id, "file_id": image["file_id"], "image_name": name, "extension": extension},
            excluded=excluded,
        ))
    return records, rows


def _write_database(path: Path, rows: dict[str, list], seed: int) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO AnnotationType VALUES (1, 'synthetic (hpbench)')")
        db.execute("INSERT INTO Databases VALUES (1, 'flickr', 'synthetic Flickr-like images')")
        mean_points = HeadModel.random(np.random.default_rng(seed)).landmarks["21"]
        db.executemany("INSERT INTO FeatureCoordTypes VALUES (?, ?, ?, ?, ?, ?)",
                       [(i + 1, name, "".join(c for c in name if c.isupper()), *map(float, mean_points[i]))
                        for i, name in enumerate(AFLW21)])
        for table, table_rows in rows.items():
            if table_rows:
                marks = ", ".join("?" * len(table_rows[0]))
                db.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
    db.close()


@register_writer("aflw")
def write_aflw(out: Path, n: int, seed: int = 0, size: int = 450, workers: int = 1, progress=None):
    """``n`` images (about 1.2 faces each) and their ``aflw.sqlite``; see the module docstring."""
    tasks = [(out, seed, image, size) for image in plan(n, seed)]
    records: list[TruthRecord] = []
    rows: dict[str, list] = {}
    for image_records, image_rows in ordered_map(_render_image, tasks, workers=workers):
        records += image_records
        for table, table_rows in image_rows.items():
            rows.setdefault(table, []).extend(table_rows)
        if progress is not None:
            progress(1)
    _write_database(out / "aflw.sqlite", rows, seed)
    return records
