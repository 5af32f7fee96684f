"""``hpbench bboxes relabel DATASET --weights W.pt``: one detector's face box for every sample.

Per image, the detections are matched to the dataset's reference box, which its converter declares
(300W-LP and AFLW2000: the landmark box; AFLW: its FaceRect; ETH-XGaze: the patch): the detection
with the highest IoU with it wins, accepted when that IoU reaches ``min_iou``. A converter that
declares a face anchor (BIWI: the projected head centre) matches by it instead: a box must contain
the point and the one whose centre is nearest to it wins (Sheka & Samun, Boosting of Head Pose
Estimation by Knowledge Distillation, §4.2, relabel every dataset with one detector). A sample without
an acceptable detection gets status ``fallback`` and the reference box: never dropped; the best
detection it turned down (highest IoU, or nearest middle) is kept, with its score and IoU.

Results go to ``bbox/yolo`` (+ ``_status``, ``_score``, ``_iou``, ``_rejected``) in the prepared file and to
``bboxes/<dataset>.yolo.csv``. Long runs journal their rows in ``….csv.progress`` as they go; a run that
finds one made with the same settings (weights, sizes, thresholds) on the same prepared file (its
content digest) continues after the samples it already holds; otherwise it starts over.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from hpbench.bboxes.boxfiles import CSV_COLUMNS, write_box_csv
from hpbench.bboxes.detector import Detector
from hpbench.converters import get_converter
from hpbench.errors import HpbenchError
from hpbench.format import HPFile, add_box_source, open_prepared
from hpbench.format.validate import bad_boxes
from hpbench.locks import output_lock
from hpbench.models.inference import checked_device

logger = logging.getLogger(__name__)

SOURCE = "yolo"
REJECTED_COLUMNS = ("rejected_x1", "rejected_y1", "rejected_x2", "rejected_y2")  # the journal's extra columns
BOX_COLUMNS = ("x1", "y1", "x2", "y2")


def iou(boxes: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """IoU of each box (k, 4) with one reference box (4,)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    left, top = np.maximum(boxes[:, 0], reference[0]), np.maximum(boxes[:, 1], reference[1])
    right, bottom = np.minimum(boxes[:, 2], reference[2]), np.minimum(boxes[:, 3], reference[3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(boxes) + area(np.asarray(reference, float)) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


class FaceChoice(NamedTuple):
    """One image's face box: ``box`` is the detection chosen, or the reference box for a fallback;
    ``score`` and ``iou`` (with the reference) are those of ``box``'s detection, or for a fallback of
    the best detection it turned down, ``rejected`` (NaN where the detector found nothing)."""

    box: np.ndarray
    score: float
    iou: float
    status: str
    rejected: np.ndarray


def choose_face(boxes: np.ndarray, scores: np.ndarray, reference: np.ndarray, centre: np.ndarray | None = None,
                min_iou: float = 0.1) -> FaceChoice:
    """The face box of one image's detections (module docstring: the rules)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    reference = np.asarray(reference, float)
    if not len(boxes):
        return FaceChoice(reference, float("nan"), float("nan"), "fallback", np.full(4, np.nan))
    overlaps = iou(boxes, reference)
    if centre is not None:  # the box must hold the anchor; the nearest middle wins (and, held or not, is the candidate)
        inside = (boxes[:, 0] <= centre[0]) & (centre[0] <= boxes[:, 2]) & (boxes[:, 1] <= centre[1]) & (centre[1] <= boxes[:, 3])
        distance = np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - centre, axis=1)
        accepted = bool(inside.any())
        best = int(np.argmin(np.where(inside, distance, np.inf) if accepted else distance))
    else:
        best = int(np.argmax(overlaps))
        accepted = bool(overlaps[best] >= min_iou)
    if accepted:
        return FaceChoice(boxes[best], float(scores[best]), float(overlaps[best]), "detected", np.full(4, np.nan))
    return FaceChoice(reference, float(scores[best]), float(overlaps[best]), "fallback", boxes[best])


def reference_and_anchors(data: HPFile) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(reference box source, reference boxes, face anchors or None) as the file's converter declares them."""
    converter = get_converter(data.layout.dataset)
    if converter.reference_box is None:
        raise HpbenchError(f"{converter.name} has no reference box to match faces against (head-pose datasets only)")
    anchors = (np.stack([data.meta(column) for column in converter.face_anchor], axis=1)
               if converter.face_anchor else None)
    return converter.reference_box, data.box(converter.reference_box), anchors


def _read_journal(path: Path, settings: dict, data: HPFile, reference: np.ndarray) -> dict[str, dict]:
    """The rows of a journal made with exactly ``settings`` (weights, sizes, thresholds and the
    prepared file's digest); {} for none or one made otherwise. A torn last line (the run was
    killed while writing it) is cut off the file. A row that does not parse, names no sample of the
    file, or breaks the value rules (a box out of order or far outside its image, a fallback whose box
    is not the reference box) is done again: a journal is a file, and files can be damaged or forged."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    complete = text[: text.rfind("\n") + 1]
    header, _, body = complete.partition("\n")
    if header != _journal_header(settings):
        return {}
    if complete != text:
        with open(path, "r+b") as handle:
            handle.truncate(len(complete.encode("utf-8")))
    index = {key: i for i, key in enumerate(data.keys)}
    rows = {}
    for row in csv.DictReader(io.StringIO(body)):
        try:
            [float(row[name]) for name in (*CSV_COLUMNS[1:7], *REJECTED_COLUMNS)]
        except (TypeError, ValueError):
            continue
        if row["status"] in ("detected", "fallback") and row["key"] in index:
            rows[row["key"]] = row
    broken = _breaking_rules(rows, index, data, reference)
    if broken:
        logger.warning(f"{path}: {len(broken)} rows break the value rules (first: {broken[0]!r}); those samples are done again")
    return {key: row for key, row in rows.items() if key not in set(broken)}


def _breaking_rules(rows: dict[str, dict], index: dict[str, int], data: HPFile, reference: np.ndarray) -> list[str]:
    """The keys of journal rows whose boxes break the format's box rules, or whose fallback box is not
    the sample's reference box."""
    if not rows:
        return []
    keys = list(rows)
    at = np.array([index[key] for key in keys])
    boxes = np.array([[float(rows[key][c]) for c in BOX_COLUMNS] for key in keys])
    rejected = np.array([[float(rows[key][c]) for c in REJECTED_COLUMNS] for key in keys])
    heights, widths = data.image_sizes[at].T
    fallback = np.array([rows[key]["status"] == "fallback" for key in keys])
    same = (boxes == reference[at]) | (np.isnan(boxes) & np.isnan(reference[at]))
    bad = bad_boxes(boxes, heights, widths)[0] | bad_boxes(rejected, heights, widths)[0]
    bad |= np.where(fallback, ~same.all(axis=1), np.isnan(boxes).any(axis=1))
    return [key for key, flag in zip(keys, bad) if flag]


def _journal_header(settings: dict) -> str:
    return "# settings: " + json.dumps(settings, sort_keys=True)


def relabel(dataset: str, weights, data_dir="data", out_dir="bboxes", batch_size: int = 16, imgsz: int | None = None,
            conf: float = 0.25, min_iou: float = 0.1, device: str = "cpu", progress: bool = True,
            trust: bool = False) -> dict:
    data = open_prepared(data_dir, dataset)
    reference_source, reference, centres = reference_and_anchors(data)
    detector = Detector(weights, imgsz=imgsz, conf=conf, device=checked_device(device), trust=trust)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with output_lock(out_dir / f"{dataset}.{SOURCE}.csv"):  # one relabelling per box file and journal
        return _relabel(data, dataset, detector, reference_source, reference, centres, out_dir, batch_size, conf,
                        min_iou, progress)


def _relabel(data: HPFile, dataset: str, detector: Detector, reference_source: str, reference: np.ndarray,
             centres: np.ndarray | None, out_dir: Path, batch_size: int, conf: float, min_iou: float,
             progress: bool) -> dict:
    journal = out_dir / f"{dataset}.{SOURCE}.csv.progress"
    settings = {"weights_sha256": detector.sha256, "imgsz": detector.imgsz, "conf": conf, "iou": detector.iou,
                "min_iou": min_iou, "reference": reference_source, "file_sha256": data.attrs["content_sha256"]}
    done = _read_journal(journal, settings, data, reference)
    todo = [i for i, key in enumerate(data.keys) if key not in done]
    if not done:  # none, or one made with other settings: its rows would mix two settings under one header
        journal.write_text(_journal_header(settings) + "\n" + ",".join((*CSV_COLUMNS, *REJECTED_COLUMNS)) + "\n")
    with open(journal, "a", newline="") as handle, \
            tqdm(total=len(data), initial=len(data) - len(todo), unit="img", desc=f"relabel {dataset}",
                 disable=not progress) as bar:
        out = csv.writer(handle, lineterminator="\n")
        detecting, started = 0.0, time.perf_counter()
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            images = [data.image(i) for i in batch]
            tick = time.perf_counter()
            detections = detector(images)
            detecting += time.perf_counter() - tick
            for i, (boxes, scores) in zip(batch, detections):
                centre = centres[i] if centres is not None else None
                face = choose_face(boxes, scores, reference[i], centre, min_iou)
                out.writerow([data.keys[i], *(repr(float(v)) for v in face.box), repr(face.score), repr(face.iou),
                              face.status, *(repr(float(v)) for v in face.rejected)])
            handle.flush()
            bar.update(len(batch))
        seconds = time.perf_counter() - started
    rows = _read_journal(journal, settings, data, reference)
    if len(rows) != len(data):  # the rows just written are refused: a detector's box beyond the rules
        raise HpbenchError(f"{journal}: {len(data) - len(rows)} samples have no valid row after the run; the "
                           "prepared file is left as it was")
    boxes = np.array([[float(rows[k][c]) for c in BOX_COLUMNS] for k in data.keys])
    rejected = np.array([[float(rows[k][c]) for c in REJECTED_COLUMNS] for k in data.keys])
    score = np.array([float(rows[k]["score"]) for k in data.keys])
    overlap = np.array([float(rows[k]["iou_ref"]) for k in data.keys])
    status = [rows[k]["status"] for k in data.keys]
    header = {"source": SOURCE, "dataset": dataset, "weights_sha256": detector.sha256,
              "reference": reference_source, "min_iou": min_iou, "imgsz": detector.imgsz, "conf": conf}
    csv_path = write_box_csv(out_dir / f"{dataset}.{SOURCE}.csv", data.keys, boxes, status, score, overlap, header)
    data.close()
    add_box_source(data.path, SOURCE, boxes, status, score, overlap, replace=True, rejected=rejected,
                   attrs={"weights_sha256": detector.sha256, "detector": "ultralytics YOLO"})
    journal.unlink()
    counts = Counter(status)
    detected = np.array([s == "detected" for s in status])
    speed = {"images": len(todo), "detector_images_per_s": round(len(todo) / detecting, 2) if detecting else None,
             "images_per_s": round(len(todo) / seconds, 2) if seconds and todo else None}
    return {"dataset": dataset, "counts": dict(counts), "csv": str(csv_path), "file": str(data.path), "speed": speed,
            "mean_iou_ref": float(np.nanmean(overlap[detected])) if detected.any() else float("nan")}
