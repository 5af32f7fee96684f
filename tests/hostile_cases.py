"""Hostile and broken inputs, one ``Case`` each: what a careless user or an attacker hands hpbench.

A case builds its inputs under a fresh folder and lists its steps: ``hpbench`` command lines (run
through the entry point under test) and Python edits between them (corrupting a prepared file). Its
outcome is read from the last command: ``clear`` (refused with one message that says ``says``),
``ok`` (it had to succeed and did), or a failure: ``traceback``, ``crash`` (the process died),
``silent`` (it had to refuse and did not), ``unclear`` (refused without saying what), ``refused``
(it had to succeed), ``harm`` (``check`` found code run, a file outside the output touched, or a
sample lost). tests/test_hostile.py runs them in-process; benchmarks/hostile_inputs.py runs them as
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
        return "harm"
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
    src = raw.copy("aflw2000", folder / "raw")
    _training_protocol(folder)
    return [prepare("aflw2000", src, folder / "data"), _train(folder, "optimizer.lrr=0.1")]


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

