"""Hostile and broken inputs, one ``Case`` each: what a careless user or an attacker hands hpbench.

A case builds its inputs under a fresh folder and lists its steps: ``hpbench`` command lines (run
through the entry point under test) and Python edits between them (corrupting a prepared file). Its
outcome is read from the last command: ``clear`` (refused with one message that says ``says``),
``ok`` (it had to succeed and did), or a failure: ``traceback``, ``crash`` (the process died or
hung), ``silent`` (it had to refuse and did not, or ``check`` found a result that is wrong without
a word), ``unclear`` (refused without saying what), ``refused`` (it had to succeed), ``harm``
(``check`` found code run, a file outside the output touched, or a sample lost). The cases of the
second round (issue 27) carry their class in ``group``. tests/test_hostile.py runs them in-process; benchmarks/hostile_inputs.py runs them as
processes against any checkout, for the before / after figures.
"""

from __future__ import annotations

import builtins
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import scipy.io

ASSETS = Path(__file__).parent / "assets"
WEIGHTS = ASSETS / "yolov5n-synthetic-wider.pt"
RAW = {"aflw2000": 3, "300w_lp": 2, "aflw": 3, "biwi": 3, "xgaze": 42, "lsp": 3, "lspet": 3, "mpii": 3,
       "wider": 3}  # images
SIZE = {"xgaze": 64}  # 42 patches: two subject files, so one can be bad
Step = list | Callable[[], None]


@dataclass(frozen=True)
class Case:
    name: str
    item: int  # the item of the hostile-input issue it tests
    build: Callable[[Path, "RawSamples"], list[Step]]
    says: str = ""  # what the refusal must say ("" = the last command must succeed)
    check: Callable[[Path, str], str | None] | None = None  # (folder, output) → the harm found, or None
    process: bool = False  # it may kill the process that runs it: tests run it as a subprocess
    verdict: bool = False  # exit 0 or 1 (a verdict either way, e.g. verify's OK or FAIL) is right
    group: str = ""  # the class of the issue-27 round it belongs to: harm, crash, silent, traceback


class RawSamples:
    """Small synthetic raw samples, written once under ``root`` and copied into each case's folder."""

    def __init__(self, root: Path):
        self.root = root

    def copy(self, dataset: str, dest: Path) -> Path:
        from hpbench.synth.writers import write_sample

        origin = self.root / dataset
        if not origin.is_dir():
            write_sample(dataset, origin, RAW[dataset], seed=1, **({"size": SIZE[dataset]} if dataset in SIZE else {}))
        shutil.copytree(origin, dest)
        return dest


def classify(case: Case, code: int, output: str, harm: str | None) -> str:
    if code < 0 or code > 128 or "BrokenProcessPool" in output or "Segmentation fault" in output:
        return "crash"
    if harm:
        return "silent" if harm.startswith("silent: ") else "harm"
    if "Traceback (most recent call last)" in output:
        return "traceback"
    if case.verdict:
        return "clear" if code in (0, 1) else "unclear"
    if not case.says:
        return "ok" if code == 0 else "refused"
    if code == 0:
        return "silent"
    return "clear" if case.says.lower() in output.lower() else "unclear"


# --- building blocks -------------------------------------------------------------------------------


def prepare(dataset: str, src: Path, out: Path, *extra: str) -> list[str]:
    return ["prepare", dataset, "--src", str(src), "--out", str(out), *extra]


def _payload_weights(path: Path, marker: Path) -> Path:
    """A .pt whose unpickling creates ``marker`` (what any code could do instead)."""
    import torch

    class Payload:
        def __reduce__(self):
            return builtins.open, (str(marker), "w")

    torch.save({"model": Payload(), "train_args": {"imgsz": 64}}, path)
    return path


def _marker_absent(name: str = "PAYLOAD-RAN"):
    def check(folder: Path, output: str) -> str | None:
        return f"the pickle payload ran ({name} exists)" if (folder / name).exists() else None

    return check


def _edit_mat(path: Path, **values) -> None:
    content = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    content.update(values)
    scipy.io.savemat(path, content)


def _sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)


def _first(folder: Path, pattern: str) -> Path:
    return sorted(folder.glob(pattern))[0]


def _rewrite_h5(path: Path, **datasets) -> None:
    with h5py.File(path, "r") as handle:
        content = {name: handle[name][()] for name in handle}
    content.update(datasets)
    with h5py.File(path, "w") as handle:
        for name, value in content.items():
            handle[name] = value


def _skipped(count: int):
    """The run must report ``count`` skipped source file(s) and convert the rest."""

    def check(folder: Path, output: str) -> str | None:
        reports = list(folder.glob("data/*.prepare.json"))
        if not reports:
            return "no report written"
        report = json.loads(reports[0].read_text())
        lost = sum(entry["samples"] for entry in report["skipped"])
        if len(report["skipped"]) != count or report["written"] + lost + len(report["excluded"]) < report["found"]:
            return f"report: {len(report['skipped'])} skipped (expected {count}), written {report['written']} " \
                   f"+ lost {lost} of {report['found']} found"
        return None

    return check


def _untouched(name: str):
    def check(folder: Path, output: str) -> str | None:
        victim = folder / name
        if victim.is_symlink() or not victim.is_file():
            return f"{name} outside the output was replaced or deleted"
        return None

    return check


def _h5_unchanged(path_in_folder: str):
    """A prepared file an in-place edit was refused on must still verify, with its digest unchanged."""

    def check(folder: Path, output: str) -> str | None:
        from hpbench.format import validate

        path = folder / path_in_folder
        before = (folder / "digest.txt").read_text()
        report = validate(path)
        with h5py.File(path, "r") as handle:
            after = handle.attrs["content_sha256"]
        if not report.ok or after != before:
            return f"{path.name} was changed or damaged by a refused command"
        return None

    return check


def _save_digest(folder: Path, path_in_folder: str):
    def step():
        with h5py.File(folder / path_in_folder, "r") as handle:
            (folder / "digest.txt").write_text(str(handle.attrs["content_sha256"]))

    return step


def _corrupt_prepared(path: Path, how: str):
    def step():
        with h5py.File(path, "r+") as handle:
            if how == "label":
                ypr = handle["pose/ypr"]
                ypr[0] = ypr[0] + np.array([20.0, 0.0, 0.0])
            elif how == "box":
                box = handle["bbox/landmarks"]
                box[1] = box[1] + 40.0
            elif how == "image":
                row = handle["image/encoded"][2]
                row[200:] = 0
                handle["image/encoded"][2] = row
            elif how == "duplicate":
                keys = handle["key"].asstr()[()]
                handle["key"][1] = keys[0]

    return step


def _flip_bytes(path: Path, seed: int, flips: int = 1):
    def step():
        data = bytearray(path.read_bytes())
        rng = np.random.default_rng(seed)
        for _ in range(flips):
            data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(data))

    return step


def _protocol(folder: Path) -> Path:
    """A 64-px protocol on the synthetic AFLW2000 file, for evaluate."""
    import yaml

    path = folder / "check.yaml"
    path.write_text(yaml.safe_dump({
        "name": "check", "title": "hostile-input check", "version": 1, "task": "headpose",
        "changelog": [{"version": 1, "date": "2026-12-01", "change": "test"}], "filter": {"limit": 99},
        "crop": "square-margin", "input_size": 64, "metrics": ["mae"], "missing_face": "fallback",
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks",
                             "reference": "landmarks"}]},
    }))
    return path


def _model(folder: Path, arch: str = "hopenet.resnet18") -> Path:
    import torch

    from hpbench.models import create_model

    torch.manual_seed(0)
    path = folder / "model.pth"
    torch.save(create_model(arch).state_dict(), path)
    return path


def _evaluate(folder: Path, arch: str = "hopenet.resnet18") -> list[str]:
    return ["evaluate", str(folder / "model.pth"), "--arch", arch, "--protocol", str(folder / "check.yaml"),
            "--data", str(folder / "data")]


def _evaluate_corrupted(how: str):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _model(folder), _protocol(folder)
        return [prepare("aflw2000", src, folder / "data"), _corrupt_prepared(folder / "data/aflw2000.h5", how),
                _evaluate(folder)]

    return build


# --- the cases ---------------------------------------------------------------------------------------


def _relabel_payload(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    weights = _payload_weights(folder / "evil.pt", folder / "PAYLOAD-RAN")
    return [prepare("aflw2000", src, folder / "data"),
            ["bboxes", "relabel", "aflw2000", "--data", str(folder / "data"), "--weights", str(weights),
             "--out", str(folder / "boxes")]]


def _detector_train_payload(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("wider", folder / "wider")
    weights = _payload_weights(folder / "evil.pt", folder / "PAYLOAD-RAN")
    return [["detector", "prepare-wider", "--src", str(src), "--out", str(folder / "yolo")],
            ["detector", "train", "--data", str(folder / "yolo/data.yaml"), "--model", str(weights),
             "--epochs", "1", "--out", str(folder / "run")]]


def _relabel_trusted(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    return [prepare("aflw2000", src, folder / "data"),
            ["bboxes", "relabel", "aflw2000", "--data", str(folder / "data"), "--weights", str(WEIGHTS),
             "--out", str(folder / "boxes")]]


def _wider_path(path_of: Callable[[Path], str]):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("wider", folder / "wider")
        victim = folder / "victim.jpg"
        shutil.copy(_first(src / "WIDER_train/images", "*/*.jpg"), victim)
        gt = src / "wider_face_split/wider_face_train_bbx_gt.txt"
        gt.write_text(f"{path_of(victim)}\n1\n1 1 10 10 0 0 0 0 0 0 \n" + gt.read_text())
        return [["detector", "prepare-wider", "--src", str(src), "--out", str(folder / "yolo")]]

    return build


def _aflw_outside(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw", folder / "aflw")
    shutil.copy(_first(src / "flickr", "*/*.jpg"), folder / "victim.jpg")
    _sql(src / "aflw.sqlite", "UPDATE FaceImages SET filepath = '../../victim.jpg' WHERE image_id = 1")
    return [prepare("aflw", src, folder / "data")]


def _mpii_json_outside(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("mpii", folder / "mpii")
    shutil.copy(_first(src / "images", "*.jpg"), folder / "victim.jpg")
    entries = json.loads((src / "annot/train.json").read_text())
    entries[0]["image"] = "../../victim.jpg"
    (src / "annot/train.json").write_text(json.dumps(entries))
    return [prepare("mpii", src, folder / "data", "--annotations", str(src / "annot/train.json"))]


def _kd_json_outside(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    boxes = folder / "boxes.json"
    boxes.write_text(json.dumps({"../../etc/passwd": [{"bbox": [1, 2, 3, 4]}],
                                 "/etc/shadow": [{"bbox": [1, 2, 3, 4]}]}))
    return [prepare("aflw2000", src, folder / "data"),
            ["bboxes", "import", "aflw2000", "--kd-json", str(boxes), "--data", str(folder / "data")]]


def _xgaze_verifies(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("xgaze", folder / "xgaze")
    return [prepare("xgaze", src, folder / "data"), ["verify", str(folder / "data/xgaze.h5")]]


def _import_name(name: str):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        boxes = folder / "boxes.json"
        return [prepare("aflw2000", src, folder / "data"), _save_digest(folder, "data/aflw2000.h5"),
                lambda: boxes.write_text(json.dumps({p.name: [{"bbox": [1, 2, 30, 40]}] for p in src.glob("*.jpg")})),
                ["bboxes", "import", "aflw2000", "--kd-json", str(boxes), "--name", name, "--data", str(folder / "data")]]

    return build


def _ddfa_mat(edit: Callable[[Path], None], dataset: str = "aflw2000", *extra: str):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy(dataset, folder / "raw")
        edit(_first(src, "**/*.mat") if dataset == "aflw2000" else _first(src / "AFW", "*.mat"))
        return [prepare(dataset, src, folder / "data", *extra)]

    return build


def _aflw_sql(*statements: str, extra: tuple[str, ...] = ("--skip-bad",)):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw", folder / "aflw")
        _sql(src / "aflw.sqlite", *statements)
        return [prepare("aflw", src, folder / "data", *extra)]

    return build


def _first_face(column: str, value: str) -> str:
    return f"UPDATE FacePose SET {column} = {value} WHERE face_id = (SELECT MIN(face_id) FROM Faces)"


def _xgaze_edit(**datasets):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("xgaze", folder / "xgaze")
        path = _first(src / "train", "*.h5")
        with h5py.File(path, "r") as handle:
            values = {name: make(handle[name][()]) for name, make in datasets.items()}
        _rewrite_h5(path, **values)
        return [prepare("xgaze", src, folder / "data", "--skip-bad")]

    return build


def _mpii_without_annolist(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("mpii", folder / "mpii")
    scipy.io.savemat(src / "mpii_human_pose_v1_u12_1.mat", {"RELEASE": {"img_train": np.array([1, 0])}})
    return [prepare("mpii", src, folder / "data")]


def _mpii_crashing_mat(*extra: str):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("mpii", folder / "mpii")
        shutil.copy(ASSETS / "mpii-release-crashes-loadmat.mat", src / "mpii_human_pose_v1_u12_1.mat")
        return [prepare("mpii", src, folder / "data", *extra)]

    return build


def _ddfa_crashing_mat(workers: str):
    """The crashing MATLAB file under an AFLW2000 name: with --skip-bad it must cost that one image."""

    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        shutil.copy(ASSETS / "mpii-release-crashes-loadmat.mat", _first(src, "*.mat"))
        return [prepare("aflw2000", src, folder / "data", "--skip-bad", "--workers", workers)]

    return build


def _wider_gt_bytes(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("wider", folder / "wider")
    gt = src / "wider_face_split/wider_face_train_bbx_gt.txt"
    gt.write_bytes(gt.read_bytes().replace(b"Parade", b"Par\xe9de", 1))
    return [["detector", "prepare-wider", "--src", str(src), "--out", str(folder / "yolo")]]


def _wider_empty_image(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("wider", folder / "wider")
    _first(src / "WIDER_train/images", "*/*.jpg").write_bytes(b"")
    return [["detector", "prepare-wider", "--src", str(src), "--out", str(folder / "yolo")]]


def _out_problem(kind: str):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        out = folder / "data"
        if kind == "file":
            out.write_text("not a folder")
        elif kind == "below-file":
            out.write_text("not a folder")
            out = out / "inner"
        elif kind == "folder-at-output":
            (out / "aflw2000.h5").mkdir(parents=True)
        return [prepare("aflw2000", src, out, *(["--overwrite"] if kind == "folder-at-output" else []))]

    return build


def _biwi_pose(text: Callable[[str], str]):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("biwi", folder / "biwi")
        pose = _first(src, "*/frame_*_pose.txt")
        pose.write_text(text(pose.read_text()))
        return [prepare("biwi", src, folder / "data", "--skip-bad")]

    return build


def _nan_rotation(text: str) -> str:
    return "nan " + text.split(" ", 1)[1]


def _centre(value: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = text.strip().splitlines()
        return "\n".join(lines[:3] + ["", value]) + "\n"

    return edit


def _lsp_nan_joint(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("lsp", folder / "lsp")
    joints = scipy.io.loadmat(src / "joints.mat")["joints"]
    joints[0, 3, 0], joints[2, 3, 0] = np.nan, 0  # x of a joint flagged visible (LSP: 0 = visible)
    scipy.io.savemat(src / "joints.mat", {"joints": joints})
    return [prepare("lsp", src, folder / "data", "--skip-bad")]


def _corrupt_jpeg(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    image = _first(src, "*.jpg")
    data = bytearray(image.read_bytes())
    scan = data.index(b"\xff\xda") + 20  # inside the entropy-coded data
    for offset in range(scan + 200, scan + 1200, 97):
        data[offset] ^= 0x55
    image.write_bytes(bytes(data))
    return [prepare("aflw2000", src, folder / "data", "--skip-bad")]


def _jpeg_trailing_bytes(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    image = _first(src, "*.jpg")
    image.write_bytes(image.read_bytes() + b"\0" * 4096)  # e.g. a camera's trailer after the end-of-image marker
    return [prepare("aflw2000", src, folder / "data")]


def _verify_flip(seed: int):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        path = folder / "data/aflw2000.h5"
        return [prepare("aflw2000", src, folder / "data"), _flip_bytes(path, seed, flips=1),
                ["verify", str(path)]]

    return build


def _wrong_shape_state(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    _model(folder, "hopenet.resnet34"), _protocol(folder)
    return [prepare("aflw2000", src, folder / "data"), _evaluate(folder, "hopenet.resnet18")]


def _training_protocol(folder: Path) -> Path:
    protocol = _protocol(folder)
    protocol.write_text(protocol.read_text().replace(
        "splits:\n", "splits:\n  train:\n  - {boxes: landmarks, dataset: aflw2000, reference: landmarks, select: all}\n"))
    return protocol


def _train(folder: Path, *overrides: str) -> list[str]:
    sets = [part for item in ("batch_size=2", "epochs=1", *overrides) for part in ("--set", item)]
    return ["train", "demo-hopenet", "--protocol", str(folder / "check.yaml"), "--data", str(folder / "data"),
            "--out", str(folder / "run"), "--workers", "0", "--device", "cpu", *sets]


def _truncated_checkpoint(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    _training_protocol(folder)
    (folder / "run").mkdir()
    (folder / "run/last.pt").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    return [prepare("aflw2000", src, folder / "data"), _train(folder)]


def _train_corrupted(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    _training_protocol(folder)
    return [prepare("aflw2000", src, folder / "data"), _corrupt_prepared(folder / "data/aflw2000.h5", "label"),
            _train(folder)]


def _unknown_nested_key(folder: Path, raw: RawSamples) -> list[Step]:
    return _unknown_nested_key_with("optimizer.lrr=0.1")(folder, raw)


def _unknown_nested_key_with(override: str):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _training_protocol(folder)
        return [prepare("aflw2000", src, folder / "data"), _train(folder, override)]

    return build


def _pt2d(value: float):
    def edit(path: Path) -> None:
        pt2d = scipy.io.loadmat(path)["pt2d"]
        pt2d[0, 3] = value
        _edit_mat(path, pt2d=pt2d)

    return edit


CASES: list[Case] = [
    # 1. untrusted code
    Case("relabel --weights with a pickle payload", 1, _relabel_payload, "--trust-checkpoint", _marker_absent()),
    Case("detector train --model with a pickle payload", 1, _detector_train_payload, "--trust-checkpoint",
         _marker_absent()),
    Case("relabel with the committed detector weights (safe loading)", 1, _relabel_trusted),
    # 2. paths that leave the dataset's root
    Case("WIDER gt: an absolute image path", 2, _wider_path(str), "leaves", _untouched("victim.jpg")),
    Case("WIDER gt: a ../ image path", 2, _wider_path(lambda v: "../../../victim.jpg"), "leaves",
         _untouched("victim.jpg")),
    Case("AFLW filepath: ../", 2, _aflw_outside, "leaves"),
    Case("MPII JSON image: ../", 2, _mpii_json_outside, "leaves"),
    Case("KD JSON keys outside the dataset", 2, _kd_json_outside,
         check=lambda folder, output: None if "outside" in output else "entries outside the dataset not reported"),
    # 3. xgaze verifies
    Case("prepare xgaze, then verify", 3, _xgaze_verifies),
    # 4. evaluate refuses corrupted files
    *[Case(f"evaluate a prepared file with a changed {how}", 4, _evaluate_corrupted(how), "verify")
      for how in ("label", "box", "image", "duplicate")],
    Case("train on a prepared file with a changed label", 4, _train_corrupted, "verify"),
    # 5. in-place box import
    Case("bboxes import --name ''", 5, _import_name(""), "--name", _h5_unchanged("data/aflw2000.h5")),
    Case("bboxes import --name landmarks (the dataset's own box)", 5, _import_name("landmarks"), "--replace",
         _h5_unchanged("data/aflw2000.h5")),
    Case("bboxes import --name with a slash", 5, _import_name("a/b"), "--name", _h5_unchanged("data/aflw2000.h5")),
    # 6. clear messages, and --skip-bad survives
    Case("zero-byte .mat", 6, _ddfa_mat(lambda p: p.write_bytes(b"")), ".mat"),
    Case("zero-byte .mat, --skip-bad", 6, _ddfa_mat(lambda p: p.write_bytes(b""), "aflw2000", "--skip-bad"),
         check=_skipped(1)),
    Case("Pose_Para as a string, --skip-bad", 6, _ddfa_mat(lambda p: _edit_mat(p, Pose_Para="0.1 0.2 0.3"),
                                                          "aflw2000", "--skip-bad"), check=_skipped(1)),
    Case("Pose_Para as a cell, --skip-bad", 6,
         _ddfa_mat(lambda p: _edit_mat(p, Pose_Para=np.array([[np.zeros(3), "x"]], dtype=object)), "300w_lp",
                   "--skip-bad"), check=_skipped(1)),
    Case("AFLW FacePose yaw NULL, --skip-bad", 6, _aflw_sql(_first_face("yaw", "NULL")), check=_skipped(1)),
    Case("AFLW FacePose yaw text, --skip-bad", 6, _aflw_sql(_first_face("yaw", "'abc'")), check=_skipped(1)),
    Case("AFLW FacePose yaw NaN, --skip-bad", 6, _aflw_sql(_first_face("yaw", "'nan'")), check=_skipped(1)),
    Case("AFLW FaceRect w NULL, --skip-bad", 6,
         _aflw_sql("UPDATE FaceRect SET w = NULL WHERE face_id = (SELECT MIN(face_id) FROM Faces)"),
         check=_skipped(1)),
    Case("AFLW duplicated FaceImages row", 6,
         _aflw_sql("INSERT INTO FaceImages (db_id, file_id, filepath, bw, width, height) "
                   "SELECT db_id, file_id, filepath, bw, width, height FROM FaceImages LIMIT 1", extra=()),
         "FaceImages"),
    Case("xgaze frame_index shorter than face_patch, --skip-bad", 6, _xgaze_edit(frame_index=lambda v: v[:-1]),
         check=_skipped(1)),
    Case("xgaze empty face_patch, --skip-bad", 6, _xgaze_edit(face_patch=lambda v: v[:, :0, :0]), check=_skipped(1)),
    Case("MPII RELEASE without annolist", 6, _mpii_without_annolist, "annolist"),
    Case("WIDER gt with a non-UTF-8 byte", 6, _wider_gt_bytes, "wider_face_train_bbx_gt.txt"),
    Case("WIDER zero-byte image", 6, _wider_empty_image, ".jpg"),
    Case("--out is a file", 6, _out_problem("file"), "data"),
    Case("--out below a file", 6, _out_problem("below-file"), "data"),
    Case("a folder at the output's name", 6, _out_problem("folder-at-output"), "aflw2000.h5"),
    Case("a truncated last.pt", 6, _truncated_checkpoint, "--restart"),
    Case("a state dict of another depth", 6, _wrong_shape_state, "do not fit"),
    Case("an unknown nested recipe key", 6, _unknown_nested_key, "lrr"),
    # 7. a parser that crashes
    Case("MPII .mat that crashes scipy's loadmat", 7, _mpii_crashing_mat(), "mpii_human_pose_v1_u12_1.mat",
         process=True),
    Case("a crashing .mat, --skip-bad, 1 worker", 7, _ddfa_crashing_mat("1"), check=_skipped(1), process=True),
    Case("a crashing .mat, --skip-bad, 2 workers", 7, _ddfa_crashing_mat("2"), check=_skipped(1), process=True),
    # 8. wrong values are bad input
    Case("NaN in pt2d, --skip-bad", 8, _ddfa_mat(_pt2d(np.nan), "aflw2000", "--skip-bad"), check=_skipped(1)),
    Case("inf in pt2d, --skip-bad", 8, _ddfa_mat(_pt2d(np.inf), "300w_lp", "--skip-bad"), check=_skipped(1)),
    Case("AFLW FeatureCoords NaN, --skip-bad", 8,
         _aflw_sql("UPDATE FeatureCoords SET x = 'nan' WHERE rowid = 1"), check=_skipped(1)),
    Case("BIWI pose.txt NaN, --skip-bad", 8, _biwi_pose(_nan_rotation), check=_skipped(1)),
    Case("BIWI head centre NaN, --skip-bad", 8, _biwi_pose(_centre("nan 0 1000")), check=_skipped(1)),
    Case("BIWI head centre behind the camera, --skip-bad", 8, _biwi_pose(_centre("0 0 -900")), check=_skipped(1)),
    Case("xgaze face_head_pose NaN, --skip-bad", 8,
         _xgaze_edit(face_head_pose=lambda v: np.where(np.arange(v.size).reshape(v.shape) == 0, np.nan, v)),
         check=_skipped(1)),
    Case("xgaze float face_patch, --skip-bad", 8, _xgaze_edit(face_patch=lambda v: v.astype(np.float32) / 255),
         check=_skipped(1)),
    Case("LSP visible joint with NaN", 8, _lsp_nan_joint, check=_skipped(1)),
    Case("JPEG with corrupt entropy data, --skip-bad", 8, _corrupt_jpeg, check=_skipped(1)),
    # 10. verify never tracebacks
    *[Case(f"verify a prepared file with one flipped bit (seed {seed})", 10, _verify_flip(seed), verdict=True)
      for seed in range(12)],
    # 11. smaller
    Case("JPEG with 4 KiB after the end-of-image marker", 11, _jpeg_trailing_bytes),
]



# --- the second round (issue 27): model files that run code, names that choose paths, files that
# change after verification, journals, two writers; resource bombs; silent results; tracebacks ----


def _victim(folder: Path) -> Path:
    victim = folder / "victim.bin"
    victim.write_bytes(b"x" * 16)
    return victim


def _victim_intact(folder: Path, output: str) -> str | None:
    victim = folder / "victim.bin"
    return None if victim.read_bytes() == b"x" * 16 else "a model file overwrote victim.bin outside every folder given"


def _scripted(folder: Path, source: str, name: str = "evil.pt") -> Path:
    """A TorchScript file whose forward is ``source`` (a method body over ``x``), as a stranger writes it."""
    import importlib.util
    import warnings

    import torch

    module_path = folder / f"{name}_module.py"
    body = "\n".join("        " + line for line in source.strip().splitlines())
    module_path.write_text(f"import torch\n\n\nclass Evil(torch.nn.Module):\n    def forward(self, x):\n{body}\n")
    spec = importlib.util.spec_from_file_location(f"evil_{name.replace('.', '_')}", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(module.Evil()), str(folder / name))
    return folder / name


def _torchscript_evaluate(source: str, *extra: str):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _protocol(folder), _victim(folder)
        model = _scripted(folder, source.replace("VICTIM", str(folder / "victim.bin")))
        return [prepare("aflw2000", src, folder / "data"),
                ["evaluate", str(model), "--protocol", str(folder / "check.yaml"), "--data", str(folder / "data"),
                 "--out", str(folder / "record.json"), *(str(folder / e) if e.endswith(".csv") else e for e in extra)]]

    return build


_WRITES_VICTIM = """
t = torch.from_file("VICTIM", True, 16, dtype=torch.uint8)
t.fill_(65)
return torch.stack([x.mean((1, 2, 3)), x.mean((1, 2, 3)), x.mean((1, 2, 3))], 1) + t.sum().float() * 0
"""
_READS_VICTIM = """
t = torch.from_file("VICTIM", False, 16, dtype=torch.uint8).float()
return t[:3].unsqueeze(0).expand(x.shape[0], 3) + x.mean() * 0
"""
_NEVER_ENDS = """
i = 0
while i >= 0:
    i = i + 1
return torch.stack([x.mean((1, 2, 3)), x.mean((1, 2, 3)), x.mean((1, 2, 3))], 1)
"""
_ALLOCATES = """
return torch.stack([x.mean((1, 2, 3))] * 3, 1) + torch.ones([200000, 200000]).sum() * 0
"""


def _setstate_payload(folder: Path, raw: RawSamples) -> list[Step]:
    """A TorchScript archive whose __setstate__ (run by torch.jit.load itself) writes the victim."""
    import warnings
    import zipfile

    import torch

    class Stateful(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = 1

        def forward(self, x):
            return torch.stack([x.mean((1, 2, 3))] * 3, 1)

        @torch.jit.export
        def __getstate__(self):
            return (self.a, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[int, bool]):
            self.a = state[0]
            self.training = state[1]

    src = raw.copy("aflw2000", folder / "raw")
    _protocol(folder), _victim(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(Stateful()), str(folder / "plain.pt"))
    payload = (f'    t = torch.from_file("{folder / "victim.bin"}", True, 16, dtype=0)\n'
               "    _5 = torch.fill_(t, 67)\n    self.a = int(torch.sum(t))\n")
    with zipfile.ZipFile(folder / "plain.pt") as plain, zipfile.ZipFile(folder / "evil.pt", "w") as evil:
        for info in plain.infolist():
            data = plain.read(info.filename)
            if "/code/" in info.filename and info.filename.endswith(".py"):
                data = data.decode().replace("    self.a = (state)[0]\n", payload).encode()
            if not info.filename.endswith(".debug_pkl"):
                evil.writestr(info, data)
    return [prepare("aflw2000", src, folder / "data"),
            ["evaluate", str(folder / "evil.pt"), "--protocol", str(folder / "check.yaml"), "--data",
             str(folder / "data"), "--out", str(folder / "record.json")]]


def _trusted_torchscript(folder: Path, raw: RawSamples) -> list[Step]:
    """hpbench's own export (a traced HopeNet with metadata) runs untrusted: the allow-list is not a wall."""
    import torch

    from hpbench.data.transforms import Preprocessing
    from hpbench.models import create_model
    from hpbench.models.torchscript import Predicting, save_torchscript

    src = raw.copy("aflw2000", folder / "raw")
    _protocol(folder)
    save_torchscript(Predicting(create_model("hopenet.resnet18")), folder / "model.pt", torch.zeros(1, 3, 64, 64),
                     preprocessing=Preprocessing(input_size=64))
    return [prepare("aflw2000", src, folder / "data"),
            ["evaluate", str(folder / "model.pt"), "--protocol", str(folder / "check.yaml"), "--data",
             str(folder / "data"), "--out", str(folder / "record.json")]]


def _nothing_escaped(folder: Path, output: str) -> str | None:
    escaped = sorted(p.name for p in folder.rglob("escaped*") if p.suffix != ".yaml")  # not the case's own input
    return f"wrote outside the output folder: {escaped}" if escaped else None


def _protocol_named(name: str):
    """A protocol whose name climbs out: evaluate --record into board/results must stay there."""

    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _model(folder)
        protocol = _protocol(folder)
        protocol.write_text(protocol.read_text().replace("name: check", f"name: {json.dumps(name)}"))
        return [prepare("aflw2000", src, folder / "data"),
                _evaluate(folder) + ["--out", str(folder / "board/record.json"), "--record",
                                     str(folder / "board/results")]]

    return build


def _torchscript_arch(folder: Path, raw: RawSamples) -> list[Step]:
    import zipfile

    src = raw.copy("aflw2000", folder / "raw")
    _protocol(folder)
    model = _scripted(folder, "return torch.stack([x.mean((1, 2, 3))] * 3, 1)", "named.pt")
    metadata = json.dumps({"arch": "z/../../escaped", "input_size": 64})
    with zipfile.ZipFile(model) as plain, zipfile.ZipFile(folder / "model.pt", "w") as named:
        prefix = plain.namelist()[0].split("/")[0]
        for info in plain.infolist():
            named.writestr(info, plain.read(info.filename))
        named.writestr(f"{prefix}/extra/hpbench.json", metadata)
    return [prepare("aflw2000", src, folder / "data"),
            ["evaluate", str(folder / "model.pt"), "--protocol", str(folder / "check.yaml"), "--data",
             str(folder / "data"), "--out", str(folder / "board/record.json"), "--record",
             str(folder / "board/results")]]


def _onnx_arch(folder: Path, raw: RawSamples) -> list[Step]:
    import warnings

    import torch

    class Mean(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x.mean((1, 2, 3))] * 3, 1)

    src = raw.copy("aflw2000", folder / "raw")
    _protocol(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Mean(), torch.zeros(2, 3, 64, 64), str(folder / "model.onnx"), input_names=["images"],
                          output_names=["angles"], dynamic_axes={"images": {0: "batch"}}, dynamo=False)
    (folder / "model.onnx.json").write_text(json.dumps({"arch": "z/../../escaped", "input_size": 64}))
    return [prepare("aflw2000", src, folder / "data"),
            ["evaluate", str(folder / "model.onnx"), "--protocol", str(folder / "check.yaml"), "--data",
             str(folder / "data"), "--out", str(folder / "board/record.json"), "--record",
             str(folder / "board/results")]]


def _recipe_named(folder: Path, raw: RawSamples) -> list[Step]:
    """A recipe named by an absolute path: the default run folder runs/NAME-PROTOCOL would be outside runs/."""
    import yaml

    from hpbench.resources import bundled_dir

    src = raw.copy("aflw2000", folder / "raw")
    _training_protocol(folder)
    recipe = yaml.safe_load((bundled_dir("baselines") / "demo-hopenet.yaml").read_text())
    recipe.update(name=str(folder / "escaped"), epochs=1, batch_size=2)
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return [prepare("aflw2000", src, folder / "data"),
            ["train", str(folder / "recipe.yaml"), "--protocol", str(folder / "check.yaml"), "--data",
             str(folder / "data"), "--workers", "0", "--device", "cpu"]]


def _board(folder: Path, edit: Callable[[dict], None]) -> Path:
    """A leaderboard folder with the committed reported numbers and one committed record, edited."""
    from hpbench.leaderboard.rows import leaderboards_dir

    board = folder / "board"
    (board / "results").mkdir(parents=True)
    shutil.copy(leaderboards_dir() / "reported.yaml", board / "reported.yaml")
    source = sorted((leaderboards_dir() / "results").glob("synthetic__*.json"))[0]
    record = json.loads(source.read_text())
    edit(record)
    (board / "results" / source.name).write_text(json.dumps(record, indent=2))
    return board


def _record_protocol_path(folder: Path, raw: RawSamples) -> list[Step]:
    """A record whose protocol.name is an absolute path, with a protocol file waiting there."""
    from hpbench.protocols import protocols_dir

    target = folder / "escaped"
    shutil.copy(protocols_dir() / "synthetic.yaml", folder / "escaped.yaml")
    board = _board(folder, lambda record: record["protocol"].update(name=str(target)))
    return [["leaderboard", "build", "--dir", str(board)]]


def _board_record(edit: Callable[[dict], None]):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        return [["leaderboard", "build", "--dir", str(_board(folder, edit))]]

    return build


def _set_metric(name: str, value):
    def edit(record: dict) -> None:
        for result in record["results"].values():
            result["metrics"][name] = value

    return edit


def _readme_forged(folder: Path, output: str) -> str | None:
    readme = folder / "board/README.md"
    if readme.is_file() and ("<script" in readme.read_text() or "| forged |" in readme.read_text()):
        return "silent: a record's text reached the README as markup or a forged row"
    return None


def _negative_ranked(folder: Path, output: str) -> str | None:
    readme = folder / "board/README.md"
    if readme.is_file() and "**-" in readme.read_text():
        return "silent: a negative MAE was ranked first, in bold"
    return None


def _indirect_ypr(how: str):
    """pose/ypr made to read another file (a virtual dataset, external raw storage or an external link)
    with the same values; evaluate, then change the other file, then evaluate again."""

    def step(folder: Path):
        def run() -> None:
            path = folder / "data/aflw2000.h5"
            with h5py.File(path, "r+") as handle:
                values = handle["pose/ypr"][()]
                attrs = dict(handle["pose/ypr"].attrs)
                del handle["pose/ypr"]
                if how == "virtual":
                    with h5py.File(folder / "other.h5", "w") as other:
                        other["ypr"] = values
                    layout = h5py.VirtualLayout(shape=values.shape, dtype=values.dtype)
                    layout[:] = h5py.VirtualSource(str(folder / "other.h5"), "ypr", shape=values.shape)
                    handle.create_virtual_dataset("pose/ypr", layout, fillvalue=0)
                elif how == "external":
                    (folder / "other.bin").write_bytes(values.astype(values.dtype).tobytes())
                    handle.create_dataset("pose/ypr", shape=values.shape, dtype=values.dtype,
                                          external=[(str(folder / "other.bin"), 0, values.nbytes)])
                else:
                    with h5py.File(folder / "other.h5", "w") as other:
                        other["ypr"] = values
                    handle["pose/ypr"] = h5py.ExternalLink(str(folder / "other.h5"), "/ypr")
                if how != "link":
                    handle["pose/ypr"].attrs.update(attrs)

        return run

    def change(folder: Path):
        def run() -> None:
            if how == "external":
                (folder / "other.bin").write_bytes(b"\0" * (folder / "other.bin").stat().st_size)
            else:
                (folder / "other.h5").unlink()  # the virtual dataset reads its fill value, the link nothing

        return run

    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _model(folder), _protocol(folder)
        return [prepare("aflw2000", src, folder / "data"), step(folder), _evaluate(folder), change(folder),
                _evaluate(folder)]

    return build


def _edited_in_place(forge_cache: bool):
    """A label changed in place after a verified evaluate, with the modification time put back (and,
    with ``forge_cache``, verified.json rewritten to the new size, time, inode and digest)."""

    def edit(folder: Path):
        def run() -> None:
            import os

            path = folder / "data/aflw2000.h5"
            before = path.stat()
            with h5py.File(path, "r+") as handle:
                handle["pose/ypr"][0] = handle["pose/ypr"][0] + np.array([20.0, 0.0, 0.0])
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            if forge_cache:
                after = path.stat()
                with h5py.File(path, "r") as handle:
                    digest = str(handle.attrs["content_sha256"])
                cache = Path(os.environ["HPBENCH_CACHE"]) / "verified.json"
                cache.write_text(json.dumps({str(path.resolve()): [after.st_size, after.st_mtime_ns, after.st_ino,
                                                                   digest]}))

        return run

    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _model(folder), _protocol(folder)
        return [prepare("aflw2000", src, folder / "data"), _evaluate(folder), edit(folder), _evaluate(folder)]

    return build


def _journal(forge: str):
    """A relabel journal under the matching header, every sample done as a fallback on its reference
    box, except the first: ``inverted`` (x2 < x1, "detected") or ``moved`` (a "fallback" whose box is
    not the reference box)."""

    def write(folder: Path):
        def run() -> None:
            import csv

            from hpbench.bboxes.boxfiles import CSV_COLUMNS
            from hpbench.bboxes.detector import Detector
            from hpbench.bboxes.relabel import REJECTED_COLUMNS, SOURCE, _journal_header, reference_and_anchors
            from hpbench.format import HPFile

            data = HPFile(folder / "data/aflw2000.h5")
            reference_source, reference, _ = reference_and_anchors(data)
            detector = Detector(WEIGHTS)
            settings = {"weights_sha256": detector.sha256, "imgsz": detector.imgsz, "conf": 0.25,
                        "iou": detector.iou, "min_iou": 0.1, "reference": reference_source,
                        "file_sha256": data.attrs["content_sha256"]}
            (folder / "boxes").mkdir()
            with open(folder / f"boxes/aflw2000.{SOURCE}.csv.progress", "w", newline="") as handle:
                handle.write(_journal_header(settings) + "\n")
                out = csv.writer(handle, lineterminator="\n")
                out.writerow((*CSV_COLUMNS, *REJECTED_COLUMNS))
                for index, key in enumerate(data.keys):
                    box, status = [float(v) for v in reference[index]], "fallback"
                    if index == 0:
                        x1, y1, x2, y2 = box
                        box, status = ([x2, y1, x1, y2], "detected") if forge == "inverted" else \
                            ([x1 + 5, y1 + 5, x2 + 5, y2 + 5], "fallback")
                        (folder / "forged.json").write_text(json.dumps(box))
                    out.writerow([key, *map(repr, box), "nan", "nan", status, "nan", "nan", "nan", "nan"])

        return run

    def check(folder: Path, output: str) -> str | None:
        from hpbench.format import HPFile, validate

        path = folder / "data/aflw2000.h5"
        if not validate(path).ok:
            return "the journal's row went into the prepared file, which now fails verify"
        stored = HPFile(path).box("yolo")[0].tolist()
        if stored == json.loads((folder / "forged.json").read_text()):
            return "silent: the forged journal row became the sample's box"
        return None

    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        return [prepare("aflw2000", src, folder / "data"), write(folder),
                ["bboxes", "relabel", "aflw2000", "--data", str(folder / "data"), "--weights", str(WEIGHTS),
                 "--out", str(folder / "boxes")]]

    return build, check


def _held_lock(path: Path, alive: bool) -> None:
    """The lock file a running (or, ``alive`` False, a dead) hpbench run holds on ``path``."""
    import os
    import socket
    import subprocess

    pid = os.getpid()
    if not alive:
        done = subprocess.Popen(["true"])
        done.wait()
        pid = done.pid
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.name + ".lock").write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "started": "2026-12-07T00:00:00Z", "command": "hpbench prepare"}))


def _second_prepare(alive: bool):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _held_lock(folder / "data/aflw2000.h5", alive)
        return [prepare("aflw2000", src, folder / "data")]

    return build


def _second_train(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    _training_protocol(folder)
    _held_lock(folder / "run", alive=True)
    return [prepare("aflw2000", src, folder / "data"), _train(folder)]


def _png_bomb(folder: Path, raw: RawSamples) -> list[Step]:
    """A valid 20000 × 20000 grey PNG of 0.4 MB where an AFLW2000 image was: 400 MB decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    side = 20000
    compressor, row, parts = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    src = raw.copy("aflw2000", folder / "raw")
    _first(src, "*.jpg").write_bytes(png)
    return [prepare("aflw2000", src, folder / "data", "--skip-bad")]


def _far_box_import(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    boxes = folder / "boxes.json"
    return [prepare("aflw2000", src, folder / "data"), _save_digest(folder, "data/aflw2000.h5"),
            lambda: boxes.write_text(json.dumps({p.name: [{"bbox": [1, 2, 300000, 300000]}]
                                                 for p in src.glob("*.jpg")})),
            ["bboxes", "import", "aflw2000", "--kd-json", str(boxes), "--name", "far", "--data",
             str(folder / "data")]]


def _protocol_text(edit: Callable[[str], str], *, train: bool = False):
    """evaluate (or train) on the check protocol with its YAML text edited."""

    def build(folder: Path, raw: RawSamples) -> list[Step]:
        src = raw.copy("aflw2000", folder / "raw")
        _model(folder)
        protocol = _training_protocol(folder) if train else _protocol(folder)
        protocol.write_text(edit(protocol.read_text()))
        command = _train(folder) if train else _evaluate(folder)
        return [prepare("aflw2000", src, folder / "data"), command]

    return build


_ALIAS_BOMB = "notes:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


def _on_a_missing_gpu(folder: Path, raw: RawSamples) -> list[Step]:
    import torch

    src = raw.copy("aflw2000", folder / "raw")
    _model(folder), _protocol(folder)
    device = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: absent on any machine
    return [prepare("aflw2000", src, folder / "data"), _evaluate(folder) + ["--device", device]]


def _workers_capped(folder: Path, output: str) -> str | None:
    return None if "--workers 64: using" in output else "silent: 64 reading processes started for 3 images"


def _found_before_work(folder: Path, output: str) -> str | None:
    return "silent: the output's problem was found only after an epoch" if "epoch 1/1" in output else None


def _train_out_below_file(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    _training_protocol(folder)
    (folder / "file").write_text("not a folder")
    command = _train(folder)
    command[command.index("--out") + 1] = str(folder / "file/run")
    return [prepare("aflw2000", src, folder / "data"), command]


def _onnx_model(folder: Path, module, sidecar: dict | None = None, external: bool = False) -> Path:
    import warnings

    import onnx
    import torch

    path = folder / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.zeros(2, 3, 64, 64), str(path), input_names=["images"],
                          output_names=["angles"], dynamic_axes={"images": {0: "batch"}}, dynamo=False)
    if external:
        proto = onnx.load(str(path))
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
    if sidecar is not None:
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
    return path


def _onnx_external_changed(folder: Path, raw: RawSamples) -> list[Step]:
    """Two evaluations of one ONNX graph whose external weights changed between them: the records
    must not carry the same model sha256."""
    import torch

    src = raw.copy("aflw2000", folder / "raw")
    _protocol(folder)
    torch.manual_seed(0)
    model = _onnx_model(folder, torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3), torch.nn.AdaptiveAvgPool2d(1),
                                                    torch.nn.Flatten()), {"input_size": 64}, external=True)

    def scale_weights() -> None:
        data = np.frombuffer((folder / "weights.bin").read_bytes(), dtype=np.float32) * 2
        (folder / "weights.bin").write_bytes(data.astype(np.float32).tobytes())

    evaluate = ["evaluate", str(model), "--protocol", str(folder / "check.yaml"), "--data", str(folder / "data")]
    return [prepare("aflw2000", src, folder / "data"), evaluate + ["--out", str(folder / "first.json")],
            scale_weights, evaluate + ["--out", str(folder / "second.json")]]


def _distinct_hashes(folder: Path, output: str) -> str | None:
    first, second = (json.loads((folder / f"{name}.json").read_text()) for name in ("first", "second"))
    if first["model"]["sha256"] == second["model"]["sha256"]:
        return "silent: changed weights, another MAE, the same recorded model sha256"
    return None


def _onnx_fails_at_run_time(folder: Path, raw: RawSamples) -> list[Step]:
    """A graph that exports for any batch but reshapes to a fixed one: onnxruntime fails on batch 3."""
    import torch

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x.mean((2, 3)).reshape(2, 3)

    src = raw.copy("aflw2000", folder / "raw")
    _protocol(folder)
    model = _onnx_model(folder, Fixed(), {"input_size": 64})
    return [prepare("aflw2000", src, folder / "data"),
            ["evaluate", str(model), "--protocol", str(folder / "check.yaml"), "--data", str(folder / "data"),
             "--batch-size", "3", "--out", str(folder / "record.json")]]


def _protocol_reusing_a_name(folder: Path, raw: RawSamples) -> list[Step]:
    """A user's protocol file named like the bundled 'synthetic' (its version, crop and boxes, but a
    ±180° filter): a record made under it must not be ranked as the bundled protocol's."""
    import yaml

    from hpbench.protocols import protocols_dir

    src = raw.copy("aflw2000", folder / "raw")
    _model(folder)
    bundled = yaml.safe_load((protocols_dir() / "synthetic.yaml").read_text())
    bundled.update(filter={"limit": 180}, splits={"test": bundled["splits"]["test"]})
    (folder / "mine.yaml").write_text(yaml.safe_dump(bundled))
    (folder / "board/results").mkdir(parents=True)
    from hpbench.leaderboard.rows import leaderboards_dir

    shutil.copy(leaderboards_dir() / "reported.yaml", folder / "board/reported.yaml")
    return [prepare("aflw2000", src, folder / "data"),
            ["evaluate", str(folder / "model.pth"), "--arch", "hopenet.resnet18", "--protocol",
             str(folder / "mine.yaml"), "--data", str(folder / "data"), "--out", str(folder / "record.json"),
             "--record", str(folder / "board/results")],
            ["leaderboard", "build", "--dir", str(folder / "board")]]


def _not_ranked_as_bundled(folder: Path, output: str) -> str | None:
    csv_text = (folder / "board/synthetic.csv").read_text()
    row = [line for line in csv_text.splitlines() if "hopenet.resnet18" in line and "reproduced" in line]
    if row and ",yes," in row[0]:
        return "silent: a record of another protocol file was ranked under the bundled protocol's name"
    return None


def _checkpoint_content(content: Callable[[], dict]):
    def build(folder: Path, raw: RawSamples) -> list[Step]:
        import torch

        src = raw.copy("aflw2000", folder / "raw")
        _protocol(folder)
        torch.save(content(), folder / "model.pt")
        return [prepare("aflw2000", src, folder / "data"),
                ["evaluate", str(folder / "model.pt"), "--protocol", str(folder / "check.yaml"), "--data",
                 str(folder / "data"), "--out", str(folder / "record.json")]]

    return build


def _last_pt_content(folder: Path, raw: RawSamples) -> list[Step]:
    import torch

    src = raw.copy("aflw2000", folder / "raw")
    _training_protocol(folder)
    (folder / "run").mkdir()
    torch.save({"format": "hpbench-checkpoint", "arch": "hopenet.resnet18", "config": {}, "state_dict": {},
                "epoch": "three", "recipe": [], "protocol": 5}, folder / "run/last.pt")
    return [prepare("aflw2000", src, folder / "data"), _train(folder)]


def _newline_key(folder: Path, raw: RawSamples) -> list[Step]:
    """An AFLW2000 image (and its .mat) whose file name holds a newline: its key does too."""
    src = raw.copy("aflw2000", folder / "raw")
    image = _first(src, "*.jpg")
    odd = "image\nodd"
    image.rename(src / f"{odd}.jpg")
    image.with_suffix(".mat").rename(src / f"{odd}.mat")
    return [prepare("aflw2000", src, folder / "data"),
            ["bboxes", "relabel", "aflw2000", "--data", str(folder / "data"), "--weights", str(WEIGHTS),
             "--out", str(folder / "boxes")]]


def _non_utf8_name(folder: Path, raw: RawSamples) -> list[Step]:
    """An AFLW2000 image whose file name is not UTF-8 (Latin-1 é): converted, its key readable."""
    import os

    src = raw.copy("aflw2000", folder / "raw")
    image = _first(src, "*.jpg")
    stem = os.fsencode(str(src)) + b"/image_caf\xe9"
    os.rename(os.fsencode(str(image)), stem + b".jpg")
    os.rename(os.fsencode(str(image.with_suffix(".mat"))), stem + b".mat")
    return [prepare("aflw2000", src, folder / "data"), ["verify", str(folder / "data/aflw2000.h5")]]


def _zero_selected(folder: Path, raw: RawSamples) -> list[Step]:
    src = raw.copy("aflw2000", folder / "raw")
    _model(folder)
    protocol = _protocol(folder)
    protocol.write_text(protocol.read_text().replace("limit: 99", "limit: 0.0001"))  # no sample is that frontal
    return [prepare("aflw2000", src, folder / "data"), _evaluate(folder)]


_JOURNAL_INVERTED, _JOURNAL_INVERTED_CHECK = _journal("inverted")
_JOURNAL_MOVED, _JOURNAL_MOVED_CHECK = _journal("moved")


def _round(*cases: Case, group: str) -> list[Case]:
    from dataclasses import replace

    return [replace(case, group=group) for case in cases]


CASES += [
    *_round(
        Case("TorchScript forward writes a file through torch.from_file", 27,
             _torchscript_evaluate(_WRITES_VICTIM), "--trust-checkpoint", _victim_intact),
        Case("TorchScript __setstate__ writes a file while torch loads it", 27, _setstate_payload,
             "--trust-checkpoint", _victim_intact),
        Case("TorchScript forward reads a file into its predictions", 27,
             _torchscript_evaluate(_READS_VICTIM, "--save-predictions", "predictions.csv"), "--trust-checkpoint"),
        Case("TorchScript forward that never ends", 27, _torchscript_evaluate(_NEVER_ENDS), "loop", process=True),
        Case("TorchScript forward that allocates 160 GB", 27, _torchscript_evaluate(_ALLOCATES), "allocation",
             process=True),
        Case("hpbench's own TorchScript export runs untrusted", 27, _trusted_torchscript),
        Case("protocol name: ../../escaped", 27, _protocol_named("../../escaped"), "name", _nothing_escaped),
        Case("TorchScript metadata arch: z/../../escaped", 27, _torchscript_arch, "arch", _nothing_escaped),
        Case("ONNX sidecar arch: z/../../escaped", 27, _onnx_arch, "arch", _nothing_escaped),
        Case("recipe name: an absolute path", 27, _recipe_named, "name", _nothing_escaped),
        Case("record protocol.name: an absolute path", 27, _record_protocol_path, "protocol.name", _nothing_escaped),
        Case("pose/ypr a virtual dataset over another file", 27, _indirect_ypr("virtual"), "outside itself"),
        Case("pose/ypr in external raw storage", 27, _indirect_ypr("external"), "outside itself"),
        Case("pose/ypr an external link", 27, _indirect_ypr("link"), "outside itself"),
        Case("a label edited in place, modification time put back", 27, _edited_in_place(False), "verify"),
        Case("a label edited in place and verified.json forged", 27, _edited_in_place(True), "verify"),
        Case("relabel journal row with x2 < x1", 27, _JOURNAL_INVERTED, check=_JOURNAL_INVERTED_CHECK),
        Case("relabel journal fallback row moved off its reference box", 27, _JOURNAL_MOVED,
             check=_JOURNAL_MOVED_CHECK),
        Case("prepare into an output another run is writing", 27, _second_prepare(alive=True), "another run"),
        Case("prepare after a run that died holding the lock", 27, _second_prepare(alive=False)),
        Case("train into a run folder another run is writing", 27, _second_train, "another run"),
        group="harm"),
    *_round(
        Case("a 20000 × 20000 PNG bomb, --skip-bad", 27, _png_bomb, check=_skipped(1), process=True),
        Case("a landmark at x = 1e7, --skip-bad", 27, _ddfa_mat(_pt2d(1e7), "aflw2000", "--skip-bad"),
             check=_skipped(1)),
        Case("an imported box 300,000 px wide", 27, _far_box_import, "box rules", _h5_unchanged("data/aflw2000.h5")),
        Case("a YAML alias bomb in a protocol", 27, _protocol_text(lambda text: text + _ALIAS_BOMB), "alias"),
        Case("prepare --workers 64 on 3 images", 27,
             lambda folder, raw: [prepare("aflw2000", raw.copy("aflw2000", folder / "raw"), folder / "data",
                                          "--workers", "64")], check=_workers_capped),
        Case("train --out below a file", 27, _train_out_below_file, "file", _found_before_work),
        Case("evaluate --device cuda without a GPU", 27, _on_a_missing_gpu, "--device"),
        group="crash"),
    *_round(
        Case("a record with a negative MAE", 27, _board_record(_set_metric("mae", -5.0)), "mae",
             _negative_ranked),
        Case("a record with a NaN MAE", 27, _board_record(_set_metric("mae", float("nan"))), "finite"),
        Case("a record with an infinite MAE", 27, _board_record(_set_metric("mae", float("inf"))), "finite"),
        Case("a record whose arch forges a Markdown row", 27,
             _board_record(lambda r: r["model"].update(arch="x | forged | 0.1 |\n| forged")), "model.arch",
             _readme_forged),
        Case("a record whose box source holds HTML", 27,
             _board_record(lambda r: [v.update(box_source="<script>alert(1)</script>")
                                      for v in r["results"].values()]), check=_readme_forged),
        Case("a record with a count that is a string", 27,
             _board_record(lambda r: [v["counts"].update(evaluated="197") for v in r["results"].values()]),
             "evaluated"),
        Case("a protocol file reusing the bundled 'synthetic' name", 27, _protocol_reusing_a_name,
             check=_not_ranked_as_bundled),
        Case("ONNX external weights changed between two records", 27, _onnx_external_changed,
             check=_distinct_hashes),
        Case("--set optimizer.lr=.nan", 27, _unknown_nested_key_with("optimizer.lr=.nan"), "lr"),
        Case("--set epochs=-1", 27, _unknown_nested_key_with("epochs=-1"), "epochs"),
        Case("a protocol key given twice", 27, _protocol_text(lambda t: t + "input_size: 96\n"), "twice"),
        Case("protocol version 1.7", 27, _protocol_text(lambda t: t.replace("version: 1", "version: 1.7")),
             "version"),
        group="silent"),
    *_round(
        Case("protocol metrics: 5", 27, _protocol_text(lambda t: t.replace("metrics:\n- mae", "metrics: 5")),
             "metrics"),
        Case("protocol splits.test: 5", 27, _protocol_text(
            lambda t: t.replace("  test:\n  - boxes: landmarks", "  test: 5\n  validation:\n  - boxes: landmarks")), "splits"),
        Case("protocol input_size: abc", 27, _protocol_text(lambda t: t.replace("input_size: 64",
                                                                                "input_size: abc")), "input_size"),
        Case("protocol filter: 3", 27, _protocol_text(lambda t: t.replace("filter:\n  limit: 99", "filter: 3")),
             "filter"),
        Case("a protocol that selects no sample", 27, _zero_selected, "no sample"),
        Case("--set batch_size=abc", 27, _unknown_nested_key_with("batch_size=abc"), "batch_size"),
        Case("a checkpoint whose state_dict is a list", 27, _checkpoint_content(
            lambda: {"format": "hpbench-checkpoint", "arch": "hopenet.resnet18", "config": {}, "state_dict": [1]}),
             "state_dict"),
        Case("a checkpoint whose config is a string", 27, _checkpoint_content(
            lambda: {"format": "hpbench-checkpoint", "arch": "hopenet.resnet18", "config": "big",
                     "state_dict": {}}), "config"),
        Case("a last.pt with values of the wrong types", 27, _last_pt_content, "--restart"),
        Case("an ONNX graph that fails at run time", 27, _onnx_fails_at_run_time, "ONNX graph failed"),
        Case("a sample key with a newline, relabelled", 27, _newline_key),
        Case("an image file name that is not UTF-8", 27, _non_utf8_name),
        group="traceback"),
]


def run_steps(steps: list[Step], command: Callable[[list[str]], tuple[int, str]]) -> tuple[int, str]:
    """Run the steps; returns the exit code and output of the last command, or of the first that failed."""
    code, output = 0, ""
    commands = [i for i, step in enumerate(steps) if not callable(step)]
    for index, step in enumerate(steps):
        if callable(step):
            step()
            continue
        code, output = command(step)
        if code != 0 and index != commands[-1]:
            return code, f"(setup step {' '.join(step[:2])} failed)\n{output}"
    return code, output

