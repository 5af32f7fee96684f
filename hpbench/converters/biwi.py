"""BIWI Kinect Head Pose (Fanelli et al. 2013): 15,678 frames of 20 people in 24 sequences.

Expected folder (``--src``)::

    hpdb/
      01/  rgb.cal  depth.cal  frame_00003_rgb.png  frame_00003_pose.txt  frame_00003_depth.bin  …
      02/ … 24/                                       (frame numbers are not contiguous)
      01.obj … 24.obj                                 (head templates, not read)

or the folder above it (``kinect_head_pose_db/`` as the archive unpacks), or the Kaggle copy
(kaggle.com/datasets/kmader/biwi-kinect-head-pose-database, which TRG's download instructions point
to) whose ``faces_0/`` holds the same sequence folders. Either gives the same keys
(``01/frame_00003_rgb.png``) and, for the same frames, the same content digest.

``frame_*_pose.txt`` holds the 3×3 head rotation (rows on lines 1–3), a blank line and the head centre
in millimetres, in the depth camera's frame. The canonical angles come from HopeNet / FSA-Net's
formula (``hpbench.pose`` convention ``biwi``). ``rgb.cal`` holds the RGB intrinsics K, a distortion
line, the rotation R and translation t from the depth to the RGB camera: the head centre X lands in
the RGB image at K · (R·X + t).

BIWI ships no face boxes. ``bbox/projected`` is the exact bounding box of the perspective image of a
sphere of radius 90 mm (HEAD_RADIUS_MM, about half a head's height) around the head centre: a
reference for matching detector boxes, not a crop. Depth frames (``--with-depth``) are decoded
from the run-length format and stored as 16-bit PNG.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import cv2
import numpy as np

from hpbench.converters import Converter, Option, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.counts import PublishedCount, count_distinct, count_samples
from hpbench.converters.images import read_image_file
from hpbench.errors import BadSourceFile, NotTheDataset
from hpbench.format import Layout, Sample
from hpbench.pose import get_convention

HEAD_RADIUS_MM = 90.0
ROTATION_TOLERANCE = 1e-3
# Sequences 15, 18, 21 and 22 repeat people of earlier sequences (dataset readme). The labels are
# identifiers; what matters is which sequences share one.
SEQUENCE_PERSON = {
    1: "F01", 2: "F02", 3: "F03", 4: "F04", 5: "F05", 6: "F06", 7: "M01", 8: "M02", 9: "M03", 10: "M04",
    11: "M05", 12: "M06", 13: "M07", 14: "M08", 15: "F03", 16: "M09", 17: "M10", 18: "F05", 19: "M11",
    20: "M12", 21: "F02", 22: "M01", 23: "M13", 24: "M14",
}
_FRAME = re.compile(r"^frame_(\d+)_rgb\.png$")


def _numbers(path: Path, expected: int, what: str) -> np.ndarray:
    if not path.is_file():
        raise BadSourceFile(path, "is missing")
    try:
        values = np.array([float(token) for token in path.read_text().split()])
    except (ValueError, UnicodeDecodeError) as err:
        raise BadSourceFile(path, f"is not a {what} (non-numeric content: {err})") from None
    if values.size < expected:
        raise BadSourceFile(path, f"is not a {what}: {values.size} numbers, expected {expected}")
    if not np.all(np.isfinite(values[:expected])):
        raise BadSourceFile(path, f"is not a {what}: it holds a NaN or infinite number")
    return values


def read_rgb_calibration(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K 3×3, R 3×3, t 3) from ``rgb.cal``: intrinsics, distortion (ignored), depth→RGB extrinsics."""
    values = _numbers(path, 25, "BIWI calibration file (K, distortion, R, t)")
    return values[:9].reshape(3, 3), values[13:22].reshape(3, 3), values[22:25]


def read_pose_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(rotation 3×3, head centre mm) of a ``pose.txt``, checked to be a rotation."""
    values = _numbers(path, 12, "BIWI pose file (3×3 rotation, head centre)")
    rotation = values[:9].reshape(3, 3)
    error = np.abs(rotation @ rotation.T - np.eye(3)).max()
    determinant = np.linalg.det(rotation)
    if error > ROTATION_TOLERANCE or abs(determinant - 1) > ROTATION_TOLERANCE:
        raise BadSourceFile(
            path, f"does not hold a rotation matrix (|R·Rᵀ − I| = {error:.3g}, det = {determinant:.4f})"
        )
    return rotation, values[9:12]


def project_point(point_mm: np.ndarray, calibration) -> np.ndarray:
    k, r, t = calibration
    camera = r @ point_mm + t
    return (k @ camera)[:2] / camera[2]


def sphere_box(centre_mm: np.ndarray, radius: float, calibration) -> np.ndarray:
    """x1 y1 x2 y2 of the perspective image of a sphere (exact: tangent planes through the camera)."""
    k, r, t = calibration
    c = r @ centre_mm + t
    depth2 = c[2] ** 2 - radius**2
    bounds = []
    for axis in (0, 1):
        # planes x = m·z through the camera centre, at distance `radius` from the sphere centre
        spread = radius * np.sqrt(c[axis] ** 2 + depth2)
        slopes = (c[axis] * c[2] + np.array([-spread, spread])) / depth2
        bounds.append(k[axis, axis] * slopes + k[axis, 2])
    return np.array([bounds[0][0], bounds[1][0], bounds[0][1], bounds[1][1]])


def decode_depth(path: Path) -> np.ndarray:
    """A ``frame_*_depth.bin``: int32 width, height, then runs of [int32 empty, int32 full, full × int16]."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadSourceFile(path, f"cannot be read ({err.strerror or err})") from None
    if len(data) < 8:
        raise BadSourceFile(path, "is not a BIWI depth file (shorter than its header)")
    width, height = struct.unpack_from("<ii", data, 0)
    total = width * height
    if not (0 < width <= 4096 and 0 < height <= 4096):
        raise BadSourceFile(path, f"is not a BIWI depth file (header says {width}×{height})")
    depth = np.zeros(total, np.int16)
    offset, pixel = 8, 0
    while pixel < total:
        if offset + 8 > len(data):
            raise BadSourceFile(path, f"is truncated: the runs end at pixel {pixel} of {total}")
        empty, full = struct.unpack_from("<ii", data, offset)
        offset += 8
        pixel += empty
        if empty < 0 or full < 0 or pixel + full > total or offset + 2 * full > len(data):
            raise BadSourceFile(path, f"is corrupt: a run of {full} values at pixel {pixel} does not fit")
        depth[pixel : pixel + full] = np.frombuffer(data, "<i2", full, offset)
        offset += 2 * full
        pixel += full
    return depth.reshape(height, width)


def _layout(with_depth: bool) -> Layout:
    return Layout(
        dataset="biwi",
        box_sources=("projected",),
        meta={"sequence": "int", "person": "str", "frame": "int", "head_center_x": "float",
              "head_center_y": "float"},
        depth=with_depth,
    )


LAYOUTS = (("hpdb", ""), ("hpdb", "hpdb"), ("hpdb", "kinect_head_pose_db/hpdb"), ("kaggle", "faces_0"))


def _sequence_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and any(p.glob("frame_*_rgb.png")))


def find_sources(src: Path, with_depth: bool = False) -> Sources:
    for layout, below in LAYOUTS:
        folders = _sequence_folders(src / below)
        if folders:
            break
    else:
        raise NotTheDataset(f"{src} does not look like BIWI: no NN/frame_XXXXX_rgb.png in it, nor in its "
                            f"{', '.join(below + '/' for _, below in LAYOUTS[1:])}")
    items = []
    for folder in folders:
        try:
            calibration = read_rgb_calibration(folder / "rgb.cal")
        except BadSourceFile as err:
            calibration = err  # every frame of the sequence reports it
        frames = sorted((int(m[1]), m[0]) for p in folder.iterdir() if (m := _FRAME.match(p.name)))
        for frame, name in frames:
            rgb = folder / name
            files = [rgb, folder / name.replace("_rgb.png", "_pose.txt")]
            if with_depth:
                files.append(folder / name.replace("_rgb.png", "_depth.bin"))
            items.append(SourceItem(key=f"{folder.name}/{name}", files=tuple(map(str, files)),
                                    info=(int(folder.name), frame, calibration)))
    notes = {"layout": f"{layout} ({folders[0].parent.relative_to(src).as_posix()}/)" if folders[0].parent != src
             else layout, "sequences": len(folders),
             "people": len({SEQUENCE_PERSON.get(int(f.name), f.name) for f in folders})}
    return Sources(_layout(with_depth), items, notes=notes)


def read(item: SourceItem) -> Sample:
    sequence, frame, calibration = item.info
    if isinstance(calibration, BadSourceFile):
        raise calibration
    paths = item.paths
    data, fmt, height, width = read_image_file(paths[0])
    rotation, centre = read_pose_file(paths[1])
    ypr = get_convention("biwi").to_canonical(rotation)
    depth_mm = (calibration[1] @ centre + calibration[2])[2]
    if depth_mm <= 2 * HEAD_RADIUS_MM:
        raise BadSourceFile(paths[1], f"puts the head centre {depth_mm:.0f} mm in front of the RGB camera: "
                                      "behind it or too close to be in the image")
    centre_xy = project_point(centre, calibration)
    sample = Sample(
        key=item.key, image=data, image_format=fmt, height=height, width=width, ypr=ypr,
        boxes={"projected": sphere_box(centre, HEAD_RADIUS_MM, calibration)},
        meta={"sequence": sequence, "person": SEQUENCE_PERSON.get(sequence, f"S{sequence:02d}"), "frame": frame,
              "head_center_x": float(centre_xy[0]), "head_center_y": float(centre_xy[1])},
    )
    if len(paths) == 3:
        depth = decode_depth(paths[2]).astype(np.uint16)
        sample.depth = cv2.imencode(".png", depth, [cv2.IMWRITE_PNG_COMPRESSION, 6])[1].tobytes()
    return sample


register(Converter(
    name="biwi", find_sources=find_sources, read=read,
    reference_box="projected", face_anchor=("head_center_x", "head_center_y"),
    published=(PublishedCount("samples", 15_678, count_samples,
                              "frames in the release; KD's box file, whose count papers quote, holds 15,677: it has "
                              "no box for 01/frame_00003_rgb.png"),
               PublishedCount("sequences", 24, count_distinct("sequence")),
               PublishedCount("people", 20, count_distinct("person"))),
    options=(Option("with_depth", "also store the depth frames (16-bit PNG)", flag=True),),
    synthetic=SyntheticSample("biwi", n=72, seed=4),
    citation="Fanelli et al., Random Forests for Real Time 3D Face Analysis, IJCV 2013",
))
