"""Synthetic WIDER FACE: scenes of one to four synthetic heads at varied scales and positions (half of
them a single head filling 40–70 % of the image, as in a portrait).

    OUT/
      WIDER_train/images/0--Parade/0_Parade_synthetic_0.jpg …   (events 0--Parade, 1--Handshaking, …)
      WIDER_val/images/…
      wider_face_split/wider_face_train_bbx_gt.txt  wider_face_val_bbx_gt.txt

Each face line is ``x1 y1 w h blur expression illumination invalid occlusion pose`` with a trailing
space, the box being the rendered head's (hair and ears included). Quirks: one image in twenty has no
head and carries the ten-zero line; a head under 8 px, and an extra box in every 30th image, are
marked invalid; every 25th image adds a zero-width box; each file ends with a blank line. One image in five goes to the val split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpbench.parallel import ordered_map
from hpbench.synth.raycast import Placement
from hpbench.synth.scene import random_instance, render_scene
from hpbench.synth.writers import TruthRecord, register_writer, sample_rng
from hpbench.synth.writers.ddfa import write_jpeg

EVENTS = ("0--Parade", "1--Handshaking", "2--Demonstration", "3--Riot", "4--Dancing")
MIN_VALID = 8  # pixels


def _pose(rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.uniform(-90, 90), np.clip(rng.normal(0, 20), -60, 60), rng.normal(0, 15)])


def _render(task: tuple[Path, int, int, int]):
    out, seed, index, size = task
    rng = sample_rng(seed, index)
    split = "val" if index % 5 == 4 else "train"
    event = EVENTS[index % len(EVENTS)]
    name = f"{event}/{event.split('--')[0]}_{event.split('--')[1]}_synthetic_{index}.jpg"
    heads = 0 if index % 20 == 7 else 1 if rng.uniform() < 0.5 else int(rng.integers(2, 5))
    instances = []
    for k in range(heads):
        scale = size * (rng.uniform(0.2, 0.34) if heads == 1 else rng.uniform(0.04, 0.2))
        slot = size / heads
        placement = Placement(float(scale), float(slot * (k + 0.5) + rng.uniform(-0.1, 0.1) * slot),
                              float(size * rng.uniform(0.3, 0.7)))
        instances.append(random_instance(rng, _pose(rng), size, size, placement=placement))
    image, labels = render_scene(instances, size, size, rng)
    (out / f"WIDER_{split}" / "images" / event).mkdir(parents=True, exist_ok=True)
    write_jpeg(out / f"WIDER_{split}" / "images" / name, image)
    lines, boxes = [], []
    for label in labels:
        x1, y1, x2, y2 = label.head_box
        left, top = int(round(x1)), int(round(y1))
        w, h = int(round(x2)) - left, int(round(y2)) - top
        invalid = int(min(w, h) < MIN_VALID)
        lines.append(f"{left} {top} {w} {h} 0 0 0 {invalid} 0 0 ")
        if not invalid:
            boxes.append(label.head_box)
    if heads and index % 25 == 3:
        lines.append(f"{size // 2} {size // 2} 0 12 2 0 0 0 0 0 ")
    if heads and index % 30 == 11:  # an annotator's "invalid" face
        lines.append(f"{size // 3} {size // 4} 10 12 2 0 0 1 2 0 ")
    block = [name, str(len(lines))] + (lines or ["0 0 0 0 0 0 0 0 0 0 "])
    return split, block, TruthRecord(key=name, meta={"split": split, "heads": heads},
                                     boxes={"heads": np.array(boxes).reshape(-1, 4)})


@register_writer("wider", next_step="hpbench detector prepare-wider --src {out} --out wider-yolo")
def write_wider(out: Path, n: int, seed: int = 0, size: int = 320, workers: int = 1, progress=None):
    """``n`` scenes over the train and val splits; see the module docstring."""
    tasks = [(out, seed, i, size) for i in range(n)]
    blocks: dict[str, list[str]] = {"train": [], "val": []}
    records = []
    for split, block, record in ordered_map(_render, tasks, workers=workers):
        blocks[split] += block
        records.append(record)
        if progress is not None:
            progress(1)
    (out / "wider_face_split").mkdir(parents=True, exist_ok=True)
    for split, lines in blocks.items():
        (out / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt").write_text("\n".join(lines) + "\n\n")
    return records
