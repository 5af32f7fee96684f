"""MPII Human Pose (Andriluka et al. 2014): 24,987 images, 40,522 annotated people.

Expected folder (``--src``)::

    mpii/
      mpii_human_pose_v1_u12_1.mat
      images/000001163.jpg …

or, with ``--annotations FILE``, the HRNet / MMPose JSON list (``image``, ``center``, ``scale``,
``joints`` 16×2, ``joints_vis``) instead of the ``.mat``.

One sample per person, keyed ``<image>#<rect>`` (the 1-based ``annorect`` index; for the JSON, the
person's rank within its image). From the ``.mat``: joints with ``is_visible`` (an int, a '0'/'1'
string, or empty, read as visible), NaN for joints not annotated, the head box (``bbox/head``,
PCKh's reference; NaN where absent), ``objpos`` → ``person/center``, ``scale`` (person height / 200
px) → ``person/scale``, ``img_train`` → ``meta/native_split``, ``single_person``, ``act``. Test
images carry only ``objpos`` and ``scale``: stored with ``meta/has_joints`` = 0. A person without
``objpos`` and ``scale`` and images listed but absent on disk are excluded and counted. Coordinates
are kept as shipped: MATLAB's 1-based pixels (HRNet and MMPose subtract 1 when loading). The JSON
has no head boxes, activities or occlusion flags: its ``joints_vis`` says "annotated".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hpbench.converters import Converter, Option, SourceItem, Sources, SyntheticSample, register
from hpbench.converters.bodies import body_layout
from hpbench.converters.counts import PublishedCount, count_samples
from hpbench.converters.images import read_image_file
from hpbench.converters.matlab import load_mat_isolated
from hpbench.errors import BadSourceFile, HpbenchError, NotTheDataset
from hpbench.format import Sample
from hpbench.paths import leaves_root
from hpbench.skeletons import MPII16

MAT_NAME = "mpii_human_pose_v1_u12_1.mat"
LAYOUT = body_layout(
    "mpii",
    MPII16,
    ("head",),
    {"image_index": "int", "rect": "int", "native_split": "str", "single_person": "int", "act_id": "int",
     "activity": "str", "activity_category": "str", "has_joints": "int"},
)


def as_list(value) -> list:
    """A MATLAB array read with squeeze_me as a list: a scalar struct becomes [struct], [] becomes []."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def field(struct, name: str, default=None):
    """A struct field, or ``default`` where the field is absent or empty."""
    if struct is None or name not in getattr(struct, "_fieldnames", ()):
        return default
    value = getattr(struct, name)
    if isinstance(value, np.ndarray) and value.size == 0:
        return default
    return value


def number(value, default=float("nan")) -> float:
    if value is None or (isinstance(value, np.ndarray) and value.size == 0):
        return default
    return float(np.asarray(value).ravel()[0])


def is_visible(value) -> bool:
    """MPII's ``is_visible``: an int, a '0'/'1' string, or empty (read as visible)."""
    if value is None or (isinstance(value, np.ndarray) and value.size == 0):
        return True
    if isinstance(value, str):
        return value.strip() != "0"
    return bool(number(value, 1.0))


def _person(rect) -> dict | None:
    """One annorect as a person record; None where it has no position."""
    objpos, scale = field(rect, "objpos"), field(rect, "scale")
    if objpos is None or scale is None:
        return None
    joints, visible = np.full((16, 2), np.nan), np.zeros(16, bool)
    for point in as_list(field(field(rect, "annopoints"), "point", [])):
        joint = int(number(field(point, "id"), -1))
        if 0 <= joint < 16:
            joints[joint] = (number(field(point, "x")), number(field(point, "y")))
            visible[joint] = is_visible(field(point, "is_visible"))
    head = np.array([number(field(rect, name)) for name in ("x1", "y1", "x2", "y2")])
    return {"joints": joints, "visible": visible, "head": head,
            "center": np.array([number(field(objpos, "x")), number(field(objpos, "y"))]), "scale": number(scale)}


def _activity(act) -> tuple[int, str, str]:
    return (int(number(field(act, "act_id"), -1)), str(field(act, "act_name", "") or ""),
            str(field(act, "cat_name", "") or ""))


def _from_mat(path: Path) -> tuple[list[tuple[str, list[dict]]], list[dict]]:
    try:
        release = load_mat_isolated(path, ["RELEASE"], struct_as_record=False, squeeze_me=True)["RELEASE"]
    except BadSourceFile as err:
        raise HpbenchError(f"{path}: not a readable MPII annotation file ({err.reason})") from None
    missing = [name for name in ("annolist", "img_train") if field(release, name) is None]
    if missing:
        raise HpbenchError(f"{path}: RELEASE has no {' or '.join(missing)} field; is this MPII's "
                           f"{MAT_NAME}? (found: {', '.join(getattr(release, '_fieldnames', ())) or 'no fields'})")
    try:
        return _people_of_release(release)
    except (AttributeError, TypeError, ValueError, IndexError) as err:
        raise HpbenchError(f"{path}: an entry of RELEASE is malformed ({type(err).__name__}: {err})") from None


def _people_of_release(release) -> tuple[list[tuple[str, list[dict]]], list[dict]]:
    annolist = as_list(release.annolist)
    train = np.atleast_1d(np.asarray(release.img_train)).ravel()
    singles = as_list(field(release, "single_person", []))
    acts = as_list(field(release, "act", []))
    images, excluded = [], []
    for index, entry in enumerate(annolist, start=1):
        name = str(field(field(entry, "image"), "name", ""))
        single = {int(r) for r in np.atleast_1d(singles[index - 1]).ravel()} if index <= len(singles) else set()
        act_id, activity, category = _activity(acts[index - 1]) if index <= len(acts) else (-1, "", "")
        people = []
        for rect_index, rect in enumerate(as_list(field(entry, "annorect", [])), start=1):
            person = _person(rect)
            if person is None:
                excluded.append({"what": f"{name}#{rect_index}", "why": "person without objpos and scale"})
                continue
            person.update(rect=rect_index, image_index=index, single_person=int(rect_index in single),
                          native_split="train" if index <= len(train) and train[index - 1] else "test",
                          act_id=act_id, activity=activity, activity_category=category)
            people.append(person)
        if people:
            images.append((name, people))
    return images, excluded


def _from_json(path: Path) -> tuple[list[tuple[str, list[dict]]], list[dict]]:
    try:
        entries = json.loads(path.read_text())
        grouped: dict[str, list[dict]] = {}
        for entry in entries:
            joints = np.asarray(entry["joints"], dtype=np.float64).reshape(16, 2)
            annotated = np.asarray(entry["joints_vis"], dtype=bool).reshape(16)
            people = grouped.setdefault(str(entry["image"]), [])
            people.append({"joints": np.where(annotated[:, None], joints, np.nan), "visible": annotated,
                           "head": np.full(4, np.nan), "center": np.asarray(entry["center"], dtype=np.float64),
                           "scale": float(entry["scale"]), "rect": len(people) + 1, "image_index": -1,
                           "single_person": -1, "native_split": path.stem, "act_id": -1, "activity": "",
                           "activity_category": ""})
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise HpbenchError(f"{path}: not an HRNet/MMPose MPII annotation list ({type(err).__name__}: {err})") from None
    return sorted(grouped.items()), []


def find_sources(src: Path, annotations: str | Path | None = None) -> Sources:
    if annotations is not None:
        path = Path(annotations)
        if not path.is_file():
            raise HpbenchError(f"--annotations {path}: no such file")
        images, excluded = _from_json(path)
    else:
        path = src / MAT_NAME
        if not path.is_file():
            nested = [p for p in src.iterdir() if (p / MAT_NAME).is_file()] if src.is_dir() else []
            hint = f" Did you mean --src {nested[0]}?" if nested else " Or pass --annotations FILE (HRNet JSON)."
            raise NotTheDataset(f"{src} does not look like MPII: no {MAT_NAME} in it.{hint}")
        images, excluded = _from_mat(path)
    items = []
    for name, people in images:
        image = src / "images" / name
        if problem := leaves_root(name, src / "images"):  # prepare reports it: an error, or one report entry
            items.append(SourceItem(key=name, files=(), info=BadSourceFile(path, problem), count=len(people)))
        elif not image.is_file():
            excluded += [{"what": f"{name}#{p['rect']}", "why": "image listed but absent on disk"} for p in people]
        else:
            items.append(SourceItem(key=name, files=(str(image),), info=people, count=len(people)))
    notes = {"images with people": len(images), "images with several people": sum(len(p) > 1 for _, p in images)}
    return Sources(LAYOUT, items, excluded=excluded, notes=notes)


def read(item: SourceItem) -> list[Sample]:
    data, fmt, height, width = read_image_file(item.paths[0])
    samples = []
    for person in item.info:
        meta = {name: person[name] for name in LAYOUT.meta if name != "has_joints"}
        meta["has_joints"] = int(np.isfinite(person["joints"]).all(axis=1).any())
        samples.append(Sample(
            key=f"{item.key}#{person['rect']}", image=data, image_format=fmt, height=height, width=width,
            boxes={"head": person["head"]}, joints=person["joints"], joints_visible=person["visible"],
            person_center=person["center"], person_scale=person["scale"], meta=meta,
        ))
    return samples


register(Converter(
    name="mpii", find_sources=find_sources, read=read,
    published=(PublishedCount("samples", 40_522, count_samples, "annotated people; test images add more"),),
    options=(Option("annotations", "an HRNet/MMPose JSON annotation list instead of the .mat"),),
    synthetic=SyntheticSample("mpii", n=40, seed=10, size=160),
    citation="Andriluka et al., 2D Human Pose Estimation: New Benchmark and State of the Art Analysis, CVPR 2014",
))
