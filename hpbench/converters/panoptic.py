"""CMU Panoptic Studio (Joo et al.), head pose over the full circle, from the panoptic-toolbox layout.

Expected folder (``--src``), as the panoptic-toolbox scripts download and extract it::

    panoptic/
      171204_pose3/
        calibration_171204_pose3.json      cameras: name, type, resolution, K, distCoef, R, t (cm)
        hdFace3d/faceRecon3D_hd00000300.json   per HD frame: people[].id, face70.landmarks (70 × xyz, cm),
                                               face70.averageScore (70)
        hdImgs/00_00/00_00_00000300.jpg    the HD frames, one folder per HD camera (00_00 … 00_30)
               00_01/ …
      161029_piano4/ …

Every person of every HD face frame (``--stride N``: the frames whose number is a multiple of N, as
DirectMHP's ``frame_id % interval == 0`` with interval 60, or 180 for sequences over 5 minutes;
``--sequences``, ``--cameras``: comma-separated names) gives one sample per camera whose image is
there (the cameras with an ``hdImgs/`` folder). Head pose and box follow the
rule of WHENet's Panoptic labels as DirectMHP publishes it (hnuzhy/DirectMHP exps/CMU/
data_statistic_hpe.py ``auto_labels_generating`` and hpe_utils.py), written again here:

1. Of the 14 face landmarks 17 21 26 22 45 42 39 36 35 31 54 48 57 8, those with averageScore > 0.1
   (at least 7) are matched to 14 points of WHENet's 58-point reference head (REFERENCE_HEAD) by
   Horn's closed-form similarity: landmarks ≈ s · Rh · model + th in world coordinates.
2. The head's rotation in a camera (R, t: world → OpenCV camera, x right, y down, z forward) is
   R · Rh; hpbench's R (docs/CONVENTIONS.md: a head point appears at Rᵀ · p in a camera frame with y
   up and z towards the viewer) is therefore (G · R · Rh)ᵀ with G = diag(1, −1, −1). Its angles are
   the full-range triple (hpbench.pose.wide_ypr_from_rotation: |pitch|, |roll| < 90°, yaw over the
   circle), DirectMHP's ``select_euler``; a rotation with no such triple is left out, as there.
3. The box (``bbox/sphere``) is the image of a sphere of radius 18 model units centred at (0, 5, −5)
   of the reference head (36 × 18 points), through the camera with its distortion, clipped to the
   image; heads whose box is empty, more than 1.5 times as tall as wide (or wide as tall), or wider
   or taller than 0.7 of the image are left out, as there.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hpbench.converters import Converter, Option, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.counts import PublishedCount, count_distinct
from hpbench.converters.images import read_image_file
from hpbench.errors import BadSourceFile, HpbenchError, NotTheDataset
from hpbench.format import Layout, Sample
from hpbench.jsonfiles import parse_json
from hpbench.pose import wide_ypr_from_rotation

# WHENet's reference head (DirectMHP exps/CMU/hpe_utils.py, reference_head): 58 points, x to the
# subject's left, y up, z out of the face; facts carried over with their source.
REFERENCE_HEAD = np.array([
    [-7.308957, 0.913869, 0.000000], [-6.775290, -0.730814, -0.012799], [-5.665918, -3.286078, 1.022951],
    [-5.011779, -4.876396, 1.047961], [-4.056931, -5.947019, 1.636229], [-1.833492, -7.056977, 4.061275],
    [0.000000, -7.415691, 4.070434], [1.833492, -7.056977, 4.061275], [4.056931, -5.947019, 1.636229],
    [5.011779, -4.876396, 1.047961], [5.665918, -3.286078, 1.022951], [6.775290, -0.730814, -0.012799],
    [7.308957, 0.913869, 0.000000], [5.311432, 5.485328, 3.987654], [4.461908, 6.189018, 5.594410],
    [3.550622, 6.185143, 5.712299], [2.542231, 5.862829, 4.687939], [1.789930, 5.393625, 4.413414],
    [2.693583, 5.018237, 5.072837], [3.530191, 4.981603, 4.937805], [4.490323, 5.186498, 4.694397],
    [-5.311432, 5.485328, 3.987654], [-4.461908, 6.189018, 5.594410], [-3.550622, 6.185143, 5.712299],
    [-2.542231, 5.862829, 4.687939], [-1.789930, 5.393625, 4.413414], [-2.693583, 5.018237, 5.072837],
    [-3.530191, 4.981603, 4.937805], [-4.490323, 5.186498, 4.694397], [1.330353, 7.122144, 6.903745],
    [2.533424, 7.878085, 7.451034], [4.861131, 7.878672, 6.601275], [6.137002, 7.271266, 5.200823],
    [6.825897, 6.760612, 4.402142], [-1.330353, 7.122144, 6.903745], [-2.533424, 7.878085, 7.451034],
    [-4.861131, 7.878672, 6.601275], [-6.137002, 7.271266, 5.200823], [-6.825897, 6.760612, 4.402142],
    [-2.774015, -2.080775, 5.048531], [-0.509714, -1.571179, 6.566167], [0.000000, -1.646444, 6.704956],
    [0.509714, -1.571179, 6.566167], [2.774015, -2.080775, 5.048531], [0.589441, -2.958597, 6.109526],
    [0.000000, -3.116408, 6.097667], [-0.589441, -2.958597, 6.109526], [-0.981972, 4.554081, 6.301271],
    [-0.973987, 1.916389, 7.654050], [-2.005628, 1.409845, 6.165652], [-1.930245, 0.424351, 5.914376],
    [-0.746313, 0.348381, 6.263227], [0.000000, 0.000000, 6.763430], [0.746313, 0.348381, 6.263227],
    [1.930245, 0.424351, 5.914376], [2.005628, 1.409845, 6.165652], [0.973987, 1.916389, 7.654050],
    [0.981972, 4.554081, 6.301271],
])
FACE70_POINTS = np.array([17, 21, 26, 22, 45, 42, 39, 36, 35, 31, 54, 48, 57, 8])  # Panoptic face70 indices
MODEL_POINTS = np.array([38, 34, 33, 29, 13, 17, 25, 21, 54, 50, 43, 39, 45, 6])  # the matching REFERENCE_HEAD rows
MIN_SCORE, MIN_POINTS = 0.1, 7
SPHERE_RADIUS, SPHERE_CENTRE = 18.0, np.array([0.0, 5.0, -5.0])
MAX_ASPECT, MAX_IMAGE_SHARE = 1.5, 0.7
GL_FROM_CV = np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes → y up, z towards the viewer
_FRAME = re.compile(r"^faceRecon3D_hd(\d+)\.json$")


def _sphere_points() -> np.ndarray:
    theta, phi = np.meshgrid(np.radians(np.arange(0, 360, 10)), np.radians(np.arange(0, 180, 10)), indexing="ij")
    points = SPHERE_RADIUS * np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], -1)
    return points.reshape(-1, 3) + SPHERE_CENTRE


SPHERE = _sphere_points()


def similarity(model: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(R, t, s) with data ≈ s · R · model + t for (n, 3) point sets (Horn's closed form, as
    DirectMHP's ``align_3d_head``)."""
    model_c, data_c = model - model.mean(0), data - data.mean(0)
    u, _, vh = np.linalg.svd(data_c.T @ model_c)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u) * np.linalg.det(vh)) or 1.0])
    rotation = u @ sign @ vh
    scale = float(np.sum(data_c * (model_c @ rotation.T)) / np.sum(model_c**2))
    return rotation, data.mean(0) - scale * rotation @ model.mean(0), scale


def project(points: np.ndarray, camera: dict) -> np.ndarray:
    """(n, 3) world points → (n, 2) pixels through a Panoptic camera (K, R, t, 5 distortion terms
    k1 k2 p1 p2 k3, as OpenCV's projectPoints)."""
    x = points @ camera["R"].T + camera["t"]
    xy = x[:, :2] / x[:, 2:3]
    k1, k2, p1, p2, k3 = camera["distCoef"]
    r2 = np.sum(xy**2, axis=1)
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    u = xy[:, 0] * radial + 2 * p1 * xy[:, 0] * xy[:, 1] + p2 * (r2 + 2 * xy[:, 0] ** 2)
    v = xy[:, 1] * radial + 2 * p2 * xy[:, 0] * xy[:, 1] + p1 * (r2 + 2 * xy[:, 1] ** 2)
    k = camera["K"]
    return np.stack([k[0, 0] * u + k[0, 1] * v + k[0, 2], k[1, 1] * v + k[1, 2]], axis=1)


def head_in_world(landmarks: np.ndarray, scores: np.ndarray):
    """(Rh, th, s) of the reference head fitted to one person's face70 landmarks, or the reason it
    cannot be."""
    chosen = scores[FACE70_POINTS] > MIN_SCORE
    if chosen.sum() < MIN_POINTS:
        return f"fewer than {MIN_POINTS} of the 14 alignment landmarks scored above {MIN_SCORE}"
    return similarity(REFERENCE_HEAD[MODEL_POINTS[chosen]], landmarks[FACE70_POINTS[chosen]])


def head_pose(camera: dict, head_rotation: np.ndarray) -> np.ndarray:
    """hpbench's rotation of a head (reference-head frame → world: ``head_rotation``) seen by ``camera``."""
    return (GL_FROM_CV @ camera["R"] @ head_rotation).T


def head_box(camera: dict, fit) -> np.ndarray | str:
    """x1 y1 x2 y2 of the reference sphere's image, clipped to the image and truncated to integers as
    DirectMHP stores it, or the reason the head is left out."""
    rotation, translation, scale = fit
    uv = project(scale * SPHERE @ rotation.T + translation, camera)
    width, height = camera["resolution"]
    x1, y1 = int(max(uv[:, 0].min(), 0)), int(max(uv[:, 1].min(), 0))
    x2, y2 = int(min(uv[:, 0].max(), width)), int(min(uv[:, 1].max(), height))
    w, h = x2 - x1, y2 - y1
    if not (w > 0 and h > 0):
        return "head box outside the image"
    if h / w >= MAX_ASPECT or w / h >= MAX_ASPECT or w >= MAX_IMAGE_SHARE * width or h >= MAX_IMAGE_SHARE * height:
        return "head box truncated or too large (DirectMHP's sanity check)"
    return np.array([x1, y1, x2, y2], dtype=np.float64)


def read_calibration(path: Path) -> dict[str, dict]:
    """The HD cameras of a ``calibration_<seq>.json``: name → K, distCoef, R, t, resolution."""
    try:
        content = parse_json(path.read_bytes(), f"{path} (a Panoptic calibration file)")
        cameras = {}
        for camera in content["cameras"]:
            if camera.get("type") != "hd":
                continue
            cameras[str(camera["name"])] = {
                "K": np.array(camera["K"], float).reshape(3, 3), "distCoef": np.array(camera["distCoef"], float)[:5],
                "R": np.array(camera["R"], float).reshape(3, 3), "t": np.array(camera["t"], float).reshape(3),
                "resolution": tuple(int(v) for v in camera["resolution"])}
    except OSError as err:
        raise BadSourceFile(path, f"cannot be read ({err.strerror or err})") from None
    except (HpbenchError, KeyError, TypeError, ValueError) as err:
        raise BadSourceFile(path, f"is not a Panoptic calibration file: {err}") from None
    bad = [name for name, c in cameras.items() if not all(np.all(np.isfinite(c[k])) for k in ("K", "R", "t"))
           or len(c["distCoef"]) < 5 or abs(np.linalg.det(c["R"]) - 1) > 1e-3]
    if bad:
        raise BadSourceFile(path, f"camera {bad[0]} has no finite K, R, t, 5 distortion terms and a rotation R")
    return cameras


def read_faces(path: Path) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(person id, (70, 3) landmarks, (70,) scores) of every person of a ``faceRecon3D_hd*.json``."""
    try:
        content = parse_json(path.read_bytes(), f"{path} (a Panoptic face file)")
        people = []
        for person in content["people"]:
            face = person["face70"]
            landmarks = np.array(face["landmarks"], float).reshape(70, 3)
            scores = np.array(face["averageScore"], float).reshape(70)
            people.append((int(person["id"]), landmarks, scores))
    except OSError as err:
        raise BadSourceFile(path, f"cannot be read ({err.strerror or err})") from None
    except (HpbenchError, KeyError, TypeError, ValueError) as err:
        raise BadSourceFile(path, f"is not a Panoptic face file (people[].id, face70.landmarks of 70 × 3 numbers, "
                                  f"face70.averageScore of 70): {err}") from None
    if any(not (np.all(np.isfinite(lm)) and np.all(np.isfinite(sc))) for _, lm, sc in people):
        raise BadSourceFile(path, "holds a NaN or infinite landmark or score")
    return people


def _layout() -> Layout:
    return Layout(dataset="panoptic", box_sources=("sphere",),
                  meta={"sequence": "str", "camera": "str", "frame": "int", "person": "int"})


def _names(text: str | None) -> set[str] | None:
    return None if not text else {part.strip() for part in str(text).split(",") if part.strip()}


def find_sources(src: Path, sequences: str | None = None, stride: str | int = 1, cameras: str | None = None) -> Sources:
    try:
        stride = int(stride)
    except ValueError:
        raise HpbenchError(f"--stride {stride!r}: a whole number of frames (1: every frame)") from None
    if stride < 1:
        raise HpbenchError(f"--stride {stride}: at least 1")
    wanted, wanted_cameras = _names(sequences), _names(cameras)
    folders = sorted(p for p in src.iterdir() if p.is_dir() and (p / f"calibration_{p.name}.json").is_file()
                     and (p / "hdFace3d").is_dir())
    if not folders:
        raise NotTheDataset(f"{src} does not look like the panoptic-toolbox layout: no SEQUENCE/ folder with "
                            "calibration_SEQUENCE.json and hdFace3d/")
    if wanted:
        missing = wanted - {f.name for f in folders}
        if missing:
            raise HpbenchError(f"--sequences: {', '.join(sorted(missing))} not in {src} "
                               f"(has: {', '.join(f.name for f in folders)})")
        folders = [f for f in folders if f.name in wanted]
    items, excluded = [], []
    for folder in folders:
        calibration = read_calibration(folder / f"calibration_{folder.name}.json")
        if wanted_cameras and wanted_cameras - set(calibration):
            raise HpbenchError(f"--cameras: {', '.join(sorted(wanted_cameras - set(calibration)))} are not HD cameras "
                               f"of {folder.name}")
        views = {n: c for n, c in sorted(calibration.items())  # the cameras whose frames were extracted
                 if (wanted_cameras is None or n in wanted_cameras) and (folder / "hdImgs" / n).is_dir()}
        frames = sorted((int(m[1]), p) for p in (folder / "hdFace3d").iterdir() if (m := _FRAME.match(p.name)))
        for frame, face_file in (f for f in frames if f[0] % stride == 0):
            try:
                people = read_faces(face_file)
            except BadSourceFile as err:
                items.append(SourceItem(f"{folder.name}/hdFace3d/{face_file.name}", (str(face_file),), err))
                continue
            fits = {pid: head_in_world(landmarks, scores) for pid, landmarks, scores in people}
            for name, camera in views.items():
                image = f"{folder.name}/hdImgs/{name}/{name}_{frame:08d}.jpg"
                faces = []
                for pid, fit in fits.items():
                    face = fit if isinstance(fit, str) else face_of(camera, fit, f"{image}#{pid}",
                                                                    (folder.name, name, frame, pid))
                    if isinstance(face, str):
                        excluded.append({"what": f"{image}#{pid}", "why": face})
                    else:
                        faces.append(face)
                if not faces:
                    continue
                if not (src / image).is_file():
                    excluded += [{"what": face["key"], "why": "HD image missing"} for face in faces]
                    continue
                items.append(SourceItem(image, (str(src / image),), faces, count=len(faces)))
    notes = {"sequences": len(folders), "cameras": len({i.key.split("/")[2] for i in items})}
    return Sources(_layout(), items, excluded, notes)


def face_of(camera, fit, key: str, where: tuple[str, str, int, int]) -> dict | str:
    """The face one camera sees of a fitted head (its key, pose, box and meta: sequence, camera,
    frame, person), or why the rule leaves it out."""
    ypr = wide_ypr_from_rotation(head_pose(camera, fit[0]))
    if not np.all(np.isfinite(ypr)):
        return "no Euler triple with |pitch| and |roll| below 90° (DirectMHP's select_euler)"
    box = head_box(camera, fit)
    if isinstance(box, str):
        return box
    return {"key": key, "ypr": ypr, "box": box, "meta": dict(zip(("sequence", "camera", "frame", "person"), where))}


def read(item: SourceItem) -> list[Sample]:
    if isinstance(item.info, BadSourceFile):
        raise item.info
    data, fmt, height, width = read_image_file(item.paths[0])
    return [Sample(key=face["key"], image=data, image_format=fmt, height=height, width=width, ypr=face["ypr"],
                   boxes={"sphere": face["box"]}, meta=face["meta"]) for face in item.info]


register(Converter(
    name="panoptic", find_sources=find_sources, read=read, reference_box="sphere", faces_in_key=True,
    published=(PublishedCount("cameras", 31, count_distinct("camera"),
                              "HD cameras of the studio (00_00 … 00_30); fewer where --cameras chose some"),),
    options=(Option("sequences", "comma-separated sequence names (default: every sequence found)"),
             Option("stride", "keep the frames whose number is a multiple of N (default 1: all; DirectMHP: 60)"),
             Option("cameras", "comma-separated HD camera names, e.g. 00_00,00_12 (default: all 31)")),
    synthetic=SyntheticSample("panoptic", n=24, seed=5, size=320),
    citation="Joo et al., Panoptic Studio: A Massively Multiview System for Social Interaction Capture, TPAMI 2017",
))
