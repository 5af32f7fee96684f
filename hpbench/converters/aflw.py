"""AFLW (Köstinger et al. 2011): 21,997 Flickr images annotated in an SQLite database.

Expected folder (``--src``, the release's ``aflw/data``)::

    aflw/data/
      aflw.sqlite
      flickr/0/image00002.jpg  flickr/2/…  flickr/3/…     (43 images are .png)

Tables read: ``Faces(face_id, file_id, db_id)``, ``FaceImages(image_id, db_id, file_id, filepath, …)``,
``FacePose(face_id, roll, pitch, yaw, annot_type_id)`` (radians), ``FaceRect(face_id, x, y, w, h, …)``
and ``FeatureCoords(face_id, feature_id, x, y)`` (the 21 points, ids 1–21). One sample per face,
keyed ``<filepath>#<face_id>``; the canonical pose flips the sqlite roll (HopeNet and KD do the same).
Faces without a pose or a rect, and images listed but absent on disk, are excluded and counted.
Protocol 2 needs ``meta/face_id``, ``meta/image_name`` and ``meta/extension``.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path, PurePosixPath

import numpy as np

from hpbench.converters import Converter, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.counts import PublishedCount, count_distinct, count_samples
from hpbench.converters.images import read_image_file
from hpbench.errors import BadSourceFile, HpbenchError, NotTheDataset
from hpbench.format import Layout, Sample
from hpbench.landmarks import AFLW21
from hpbench.paths import leaves_root

LAYOUT = Layout(
    dataset="aflw",
    landmark_names=AFLW21,
    box_sources=("dataset",),
    meta={"face_id": "int", "file_id": "str", "image_name": "str", "extension": "str"},
)
REQUIRED_TABLES = ("Faces", "FaceImages", "FacePose", "FaceRect", "FeatureCoords")


def _connect(sqlite: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True)
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise HpbenchError(f"{sqlite}: not a readable SQLite database ({err})") from None
    missing = [table for table in REQUIRED_TABLES if table not in tables]
    if missing:
        connection.close()
        raise HpbenchError(
            f"{sqlite}: missing table(s) {', '.join(missing)}; is this AFLW's aflw.sqlite? "
            f"(found: {', '.join(sorted(tables)) or 'no tables'})"
        )
    return connection


def _first_per_face(rows) -> dict[int, tuple]:
    """One row per face_id: the one with the lowest annot_type_id (rows come sorted by it)."""
    result: dict[int, tuple] = {}
    for face_id, *values in rows:
        result.setdefault(int(face_id), tuple(values))
    return result


def _read_tables(connection: sqlite3.Connection, sqlite: Path):
    """(faces, poses, rects, 21-point landmarks, faces with unusable values) as read from the database."""
    with connection as db:
        repeated = db.execute("SELECT file_id, COUNT(*) FROM FaceImages GROUP BY file_id "
                              "HAVING COUNT(*) > 1").fetchall()
        if repeated:
            file_id, count = repeated[0]
            raise HpbenchError(f"{sqlite}: FaceImages lists file_id {file_id!r} {count} times "
                               f"({len(repeated)} file_id(s) repeated); each image must appear once")
        faces = db.execute(
            "SELECT Faces.face_id, Faces.file_id, FaceImages.filepath FROM Faces "
            "LEFT JOIN FaceImages ON Faces.file_id = FaceImages.file_id ORDER BY Faces.face_id"
        ).fetchall()
        poses = _first_per_face(db.execute("SELECT face_id, roll, pitch, yaw FROM FacePose ORDER BY face_id, annot_type_id"))
        rects = _first_per_face(db.execute("SELECT face_id, x, y, w, h FROM FaceRect ORDER BY face_id, annot_type_id"))
        points: dict[int, np.ndarray] = defaultdict(lambda: np.full((21, 2), np.nan))
        unusable: dict[int, str] = {}
        for face_id, feature_id, x, y in db.execute("SELECT face_id, feature_id, x, y FROM FeatureCoords"):
            if isinstance(feature_id, int) and 1 <= feature_id <= 21:
                if problem := _not_numbers((x, y), ("x", "y")):
                    unusable.setdefault(int(face_id), f"FeatureCoords feature {feature_id}: {problem}")
                else:
                    points[int(face_id)][feature_id - 1] = (x, y)
    connection.close()
    checked = (("FacePose", poses, ("roll", "pitch", "yaw")), ("FaceRect", rects, ("x", "y", "w", "h")))
    for table, rows, names in checked:
        for face_id, values in rows.items():
            if problem := _not_numbers(values, names):
                unusable.setdefault(face_id, f"{table}: {problem}")
    return faces, poses, rects, points, unusable


def _not_numbers(values, names) -> str | None:
    """What is wrong with a row that must hold finite numbers (sqlite stores NULL, text, NaN as given)."""
    for name, value in zip(names, values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            return f"{name} is {value!r}, not a finite number"
    return None


def find_sources(src: Path) -> Sources:
    sqlite = src / "aflw.sqlite"
    if not sqlite.is_file():
        nested = [p for p in (src / "data", src / "aflw" / "data") if (p / "aflw.sqlite").is_file()]
        hint = f" Did you mean --src {nested[0]}?" if nested else ""
        raise NotTheDataset(f"{src} does not look like AFLW: no aflw.sqlite in it.{hint}")
    try:
        faces, poses, rects, points, unusable = _read_tables(_connect(sqlite), sqlite)
    except sqlite3.Error as err:
        raise HpbenchError(f"{sqlite}: {err}; is this AFLW's aflw.sqlite?") from None
    by_image: dict[str, list] = defaultdict(list)
    excluded, items = [], []
    for face_id, file_id, filepath in faces:
        what = f"face {face_id} ({filepath or file_id})"
        rect = rects.get(face_id)
        outside = leaves_root(str(filepath), src / "flickr") if filepath is not None else None
        problem = unusable.get(face_id) or outside
        if problem:  # prepare reports it: an error, or with --skip-bad one face
            bad = BadSourceFile(sqlite, f"{what}: {problem}")
            items.append(SourceItem(key=f"{filepath}#{face_id}", files=(), info=bad))
        elif filepath is None:
            excluded.append({"what": what, "why": "file_id not in FaceImages"})
        elif face_id not in poses:
            excluded.append({"what": what, "why": "no FacePose row"})
        elif rect is None:
            excluded.append({"what": what, "why": "no FaceRect row"})
        elif rect[2] <= 0 or rect[3] <= 0:
            excluded.append({"what": what, "why": "empty FaceRect"})
        else:
            by_image[filepath].append((face_id, str(file_id), poses[face_id], rect, points[face_id].copy()))
    for filepath in sorted(by_image):
        image = src / "flickr" / filepath
        if not image.is_file():
            excluded += [{"what": f"face {f[0]} ({filepath})", "why": "image listed but absent on disk"}
                         for f in by_image[filepath]]
            continue
        items.append(SourceItem(key=filepath, files=(str(image),), info=by_image[filepath], count=len(by_image[filepath])))
    notes = {
        "faces in aflw.sqlite": len(faces),
        "images with a converted face": sum(bool(item.files) for item in items),
        "of which .png": sum(bool(item.files) and PurePosixPath(item.key).suffix.lower() == ".png" for item in items),
        "of which with several faces": sum(item.count > 1 for item in items),
    }
    return Sources(LAYOUT, items, excluded=excluded, notes=notes)


def read(item: SourceItem) -> list[Sample]:
    data, fmt, height, width = read_image_file(item.paths[0])
    name = PurePosixPath(item.key)
    samples = []
    for face_id, file_id, (roll, pitch, yaw), (x, y, w, h), landmarks in item.info:
        samples.append(
            Sample(
                key=f"{item.key}#{face_id}",
                image=data,
                image_format=fmt,
                height=height,
                width=width,
                ypr=np.degrees([yaw, pitch, -roll]),
                landmarks=landmarks,
                boxes={"dataset": np.array([x, y, x + w, y + h], dtype=np.float64)},
                meta={"face_id": face_id, "file_id": file_id, "image_name": name.stem,
                      "extension": name.suffix.lstrip(".").lower()},
            )
        )
    return samples


register(Converter(
    name="aflw", find_sources=find_sources, read=read, reference_box="dataset", faces_in_key=True,
    published=(PublishedCount("samples", 24_383, count_samples,
                              "faces with a box in the KD box file; aflw.sqlite itself holds more faces"),
               PublishedCount("images", 21_120, count_distinct("image_name"), "images in the KD box file")),
    synthetic=SyntheticSample("aflw", n=70, seed=2, size=200),
    citation="Köstinger et al., Annotated Facial Landmarks in the Wild, ICCV Workshops 2011",
))
