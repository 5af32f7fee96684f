"""``hpbench bboxes relabel | import | export | show``."""

from __future__ import annotations

from pathlib import Path

from hpbench.bboxes.boxfiles import export_kd_json, import_kd_json, write_box_csv
from hpbench.bboxes.peerfiles import import_peer_file
from hpbench.bboxes.relabel import SOURCE, relabel
from hpbench.bboxes.show import box_grid
from hpbench.errors import HpbenchError
from hpbench.format import find_prepared, open_prepared


def relabel_boxes(dataset: str, weights, data="data", out=None, batch: int = 16, imgsz: int | None = None,
                       conf: float = 0.25, min_iou: float = 0.1, device: str = "cpu", trust: bool = False) -> int:
    """``hpbench bboxes relabel``: relabel, then print the counts and where the boxes went. The box
    file goes to ``out``, by default ``bboxes/`` beside the data folder (``data`` → ``bboxes``,
    ``other/data`` → ``other/bboxes``), so relabelling two data folders keeps two box files."""
    out = out or Path(data).parent / "bboxes"
    summary = relabel(dataset, weights, data, out, batch_size=batch, imgsz=imgsz, conf=conf,
                      min_iou=min_iou, device=device, trust=trust)
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["counts"].items()))
    print(f"{dataset}: {counts}; mean IoU with the reference box {summary['mean_iou_ref']:.3f}")
    print(f"box file: {summary['csv']}\nwritten into: {summary['file']} (bbox/{SOURCE})")
    speed = summary["speed"]
    if speed["images_per_s"]:  # the detector's time apart: model + detector is the sum of two measured numbers
        print(f"speed: {speed['images']:,} images at {speed['images_per_s']:.1f} images/s, the detector alone "
              f"{speed['detector_images_per_s']:.1f} images/s")
    return 0


def import_boxes(dataset: str, kd_json: str | None = None, file: str | None = None, file_format: str = "kd",
                 name: str | None = None, data="data", replace: bool = False, with_labels: bool = False) -> int:
    """``hpbench bboxes import``: read a box file (KD's JSON, headposeplus' .npz, opal23's list) into
    ``bbox/<name>``, with ``with_labels`` its labels into ``labels/<name>``; print what matched."""
    if (kd_json is None) == (file is None):
        raise HpbenchError("import needs one box file: --file FILE [--format kd|headposeplus|opal23] "
                           "(or --kd-json FILE)")
    path = find_prepared(data, dataset)
    file_format = "kd" if kd_json else file_format
    name = file_format if name is None else name
    if file_format == "kd":
        if with_labels:
            raise HpbenchError("--with-labels: KD's box files hold no labels")
        report = import_kd_json(path, kd_json or file, name, replace)
    else:
        report = import_peer_file(path, file, file_format, name, with_labels, replace)
    print(report.summary(dataset, name))
    if with_labels:
        print(f"  labels: labels/{name} (a protocol entry names them with labels: {name})")
    return 0


def export_boxes(dataset: str, name: str = "yolo", data="data", kd_json: str | None = None,
                 csv_file: str | None = None) -> int:
    """``hpbench bboxes export``: ``bbox/<name>`` as a KD JSON box file and / or an hpbench box CSV."""
    if not (kd_json or csv_file):
        raise HpbenchError("export needs --kd-json OUT.json and/or --csv OUT.csv")
    prepared = open_prepared(data, dataset)
    if kd_json:
        print(f"wrote {export_kd_json(prepared.path, name, kd_json)}")
    if csv_file:
        print(f"wrote {write_box_csv(csv_file, prepared.keys, prepared.box(name), header={'source': name})}")
    return 0


def show_boxes(dataset: str, name: str = "yolo", data="data", n: int = 16, out: str | None = None) -> int:
    """``hpbench bboxes show``: write the picture of ``n`` samples' boxes."""
    path = find_prepared(data, dataset)
    print(f"wrote {box_grid(path, name, n, out or f'{dataset}-{name}-boxes.png')}")
    return 0
