"""Synthetic MPII Human Pose: ``mpii_human_pose_v1_u12_1.mat`` and images, plus the HRNet JSON.

    OUT/
      mpii_human_pose_v1_u12_1.mat   RELEASE: annolist, img_train, version, single_person, act, video_list
      images/015601864.jpg …
      annot/train.json               HRNet / MMPose list: image, center, scale, joints (16×2), joints_vis

The RELEASE struct is written the way the release nests it, so that scipy reads it back with its
quirks: ``annolist(i).annorect`` is a struct array whose fields differ between images (test images
carry only ``scale`` and ``objpos``), a one-person image or a one-point list collapses to a scalar
struct under ``squeeze_me``, ``is_visible`` is an int, a '0'/'1' string or empty, some joints are
not annotated, some training people have no ``annopoints``, one person has no position at all, some
activities are empty, and one listed image is absent on disk. Coordinates are MATLAB's (1-based),
as in the release.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.io

from hpbench.parallel import ordered_map
from hpbench.synth.body import render_people
from hpbench.synth.writers import TruthRecord, register_writer, sample_rng
from hpbench.synth.writers.ddfa import write_jpeg

ACTIVITIES = (("running", "sports"), ("bicycling", "bicycling"), ("dancing", "dancing"), ("yoga", "conditioning"))
RECT_FIELDS = ("x1", "y1", "x2", "y2", "annopoints", "scale", "objpos")
EMPTY = np.zeros((0, 0))


def struct_array(records: list[dict], fields) -> np.ndarray:
    """A 1×n MATLAB struct array (missing values become [])."""
    array = np.empty((1, len(records)), dtype=[(name, object) for name in fields])
    for i, record in enumerate(records):
        for name in fields:
            array[0, i][name] = record.get(name, EMPTY)
    return array


def _image_plan(index: int, rng: np.random.Generator) -> dict:
    return {
        "train": index % 5 != 3,
        "people": 1 if index == 0 else int(rng.choice([1, 1, 2, 3])),
        "absent": index == 2,
        "activity": None if index == 1 else ACTIVITIES[int(rng.integers(len(ACTIVITIES)))],
    }


def _visibility_value(rng: np.random.Generator, visible: bool):
    kind = rng.uniform()
    if kind < 0.7:
        return int(visible)
    if kind < 0.9:
        return str(int(visible))
    return EMPTY if visible else int(visible)  # an empty flag reads as visible


def _render(task: tuple[Path, int, int, str, int]):
    out, seed, index, name, size = task
    rng = sample_rng(seed, index)
    plan = _image_plan(index, rng)
    width, height = int(size * rng.uniform(1.2, 1.6)), size
    image, people = render_people(rng, height, width, people=plan["people"], fill=0.7)
    if not plan["absent"]:
        write_jpeg(out / "images" / name, image)
    rects, truths = [], []
    for rect, person in enumerate(people, start=1):
        joints, head = person.joints + 1, person.head_box + 1  # MATLAB's 1-based pixels
        centre = person.center + 1
        record = {"scale": float(person.scale), "objpos": struct_array([{"x": float(centre[0]), "y": float(centre[1])}], ("x", "y"))}
        annotated = np.zeros(16, bool)
        if plan["train"]:
            record.update(x1=float(head[0]), y1=float(head[1]), x2=float(head[2]), y2=float(head[3]))
            unannotated = index == 5 and rect == 1  # a training person without annopoints
            no_position = index == 6 and rect == 1
            if no_position:
                record = {"x1": record["x1"], "y1": record["y1"], "x2": record["x2"], "y2": record["y2"]}
            if not unannotated and not no_position:
                annotated = rng.uniform(size=16) > 0.06
                if index == 4:
                    annotated[:] = False
                    annotated[9] = True  # a single point: collapses to a scalar struct
                points = [{"id": j, "x": float(joints[j, 0]), "y": float(joints[j, 1]),
                           "is_visible": _visibility_value(rng, bool(person.visible[j]))}
                          for j in range(16) if annotated[j]]
                record["annopoints"] = struct_array([{"point": struct_array(points, ("id", "x", "y", "is_visible"))}],
                                                    ("point",))
        rects.append(record)
        has_position = "objpos" in record
        truth_joints = np.where(annotated[:, None], joints, np.nan)
        truths.append(TruthRecord(
            key=f"{name}#{rect}",
            joints=truth_joints,
            visible=annotated & person.visible,
            boxes={"head": head if plan["train"] else np.full(4, np.nan)},
            center=centre,
            scale=person.scale,
            meta={"image_index": index + 1, "rect": rect, "native_split": "train" if plan["train"] else "test",
                  "has_joints": int(annotated.any())},
            excluded="image listed but absent on disk" if plan["absent"] else
            "" if has_position else "person without objpos and scale",
        ))
    fields = RECT_FIELDS if plan["train"] else ("scale", "objpos")
    single = [r for r in range(1, len(rects) + 1) if len(rects) == 1 or rng.uniform() < 0.5]
    for truth in truths:
        truth.meta.update(
            single_person=int(truth.meta["rect"] in single),
            act_id=-1 if plan["activity"] is None else ACTIVITIES.index(plan["activity"]) + 1,
            activity="" if plan["activity"] is None else plan["activity"][0],
            activity_category="" if plan["activity"] is None else plan["activity"][1],
        )
    entry = {
        "image": struct_array([{"name": name}], ("name",)),
        "annorect": struct_array(rects, fields),
        "frame_sec": float(rng.integers(1, 200)),
        "vididx": float(index % 7 + 1),
    }
    return entry, np.array(single, float), plan, truths


@register_writer("mpii")
def write_mpii(out: Path, n: int, seed: int = 0, size: int = 240, workers: int = 1, progress=None):
    """``n`` images (one in five a test image, a third with several people); see the module docstring."""
    (out / "images").mkdir(parents=True)
    (out / "annot").mkdir()
    numbers = np.sort(np.random.default_rng([seed, 11]).choice(10**9, size=n, replace=False))
    tasks = [(out, seed, i, f"{number:09d}.jpg", size) for i, number in enumerate(numbers)]
    entries, singles, acts, train, records, hrnet = [], [], [], [], [], []
    for entry, single, plan, truths in ordered_map(_render, tasks, workers=workers):
        entries.append(entry)
        singles.append(single)
        activity = plan["activity"]
        acts.append({"act_name": activity[0], "cat_name": activity[1], "act_id": ACTIVITIES.index(activity) + 1}
                    if activity else {"act_name": EMPTY, "cat_name": EMPTY, "act_id": -1})
        train.append(int(plan["train"]))
        records += truths
        for truth in truths:
            if plan["train"] and truth.meta["has_joints"] and not truth.excluded:
                annotated = ~np.isnan(truth.joints[:, 0])
                hrnet.append({"image": truth.key.split("#")[0], "center": [float(v) for v in truth.center],
                              "scale": float(truth.scale),
                              "joints": np.where(annotated[:, None], truth.joints, -1.0).tolist(),
                              "joints_vis": annotated.astype(int).tolist()})
        if progress is not None:
            progress(1)
    single_cells = np.empty((n, 1), dtype=object)
    single_cells[:, 0] = singles
    release = {
        "annolist": struct_array(entries, ("image", "annorect", "frame_sec", "vididx")),
        "img_train": np.array([train], float),
        "version": "12",
        "single_person": single_cells,
        "act": struct_array(acts, ("act_name", "cat_name", "act_id")).T,
        "video_list": np.array([[f"video{v:03d}" for v in range(1, 8)]], dtype=object),
    }
    scipy.io.savemat(out / "mpii_human_pose_v1_u12_1.mat", {"RELEASE": struct_array([release], tuple(release))},
                     format="5")
    (out / "annot" / "train.json").write_text(json.dumps(hrnet))
    return records
