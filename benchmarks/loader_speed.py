"""How fast hpbench feeds a model, measured side by side in one run on synthetic 300W-LP images.

One thread (torch and OpenCV), one process, the best of ``--repeats`` passes over ``--n`` images of
450 × 450 px, each time per item:

- the floor: ``cv2.imdecode`` of the same JPEG bytes, already in memory;
- HopeNet's loader as its authors wrote it (deep-head-pose code/datasets.py, AFLW2000.__getitem__ at
  34a9bfe, and code/test_hopenet.py's transforms): PIL opens the JPEG, scipy reads the .mat twice
  (pt2d, then Pose_Para), the k = 0.2 crop, torchvision Resize(224) + CenterCrop + ToTensor + Normalize;
- ``HeadPoseDataset`` at the same crop with HopeNet's PIL kernel (the items checked against the
  reference loader), with OpenCV's bilinear kernel, and with the protocols' ``kd`` crop; its items
  are uint8, normalised later per batch, so that cost is measured per batch and added per item;
- the crop cache against the same items made from pre-cropped uint8 arrays held in memory (FSA-Net's
  npz style);
- evaluation (a ResNet-18 KD student at 224 px, batch 64) against its forward passes alone, with and
  without the cache and with 0 and 2 workers, the predictions compared;
- ``prepare`` of ``--prepare-n`` images against merely reading every raw file and parsing its .mat,
  and against that plus the JPEG damage check prepare makes (one reading worker).

The Dataset's items are uint8; their normalisation runs per batch on the model's device (on a GPU it
leaves the loader entirely), so it is measured apart: "+ normalise" adds its CPU cost per item.

    python benchmarks/loader_speed.py [--n 300] [--repeats 3] [--prepare-n 1200] [--work /tmp/hpbench-loader]
                                      [--before OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.io
import torch
import yaml
from PIL import Image
from recording import record
from torchvision import transforms

from hpbench.converters.prepare import prepare
from hpbench.data.crop_cache import cached_crops
from hpbench.data.headpose import HeadPoseDataset
from hpbench.data.transforms import Preprocessing
from hpbench.evaluation.evaluate import evaluate
from hpbench.format import HPFile, check_before_use
from hpbench.models import create_model
from hpbench.synth.writers import write_sample


class HopeNetAFLW2000:
    """The reference: HopeNet's AFLW2000 test item, step by step as deep-head-pose does it."""

    bins = np.array(range(-99, 102, 3))

    def __init__(self, names: list[Path]):
        self.names = names
        self.transform = transforms.Compose([
            transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int):
        name = self.names[index]
        image = Image.open(name.with_suffix(".jpg")).convert("RGB")
        pt2d = scipy.io.loadmat(name.with_suffix(".mat"))["pt2d"]
        x_min, y_min, x_max, y_max = min(pt2d[0, :]), min(pt2d[1, :]), max(pt2d[0, :]), max(pt2d[1, :])
        k = 0.20
        x_min -= 2 * k * abs(x_max - x_min)
        y_min -= 2 * k * abs(y_max - y_min)
        x_max += 2 * k * abs(x_max - x_min)
        y_max += 0.6 * k * abs(y_max - y_min)
        image = image.crop((int(x_min), int(y_min), int(x_max), int(y_max)))
        pose = scipy.io.loadmat(name.with_suffix(".mat"))["Pose_Para"][0][:3]
        pitch, yaw, roll = (float(v) * 180 / np.pi for v in pose)
        labels = torch.LongTensor(np.digitize([yaw, pitch, roll], self.bins) - 1)
        return self.transform(image), labels, torch.FloatTensor([yaw, pitch, roll]), str(name)


class InMemoryCrops:
    """Pre-cropped uint8 arrays held in memory, made into the same items as a HeadPoseDataset's."""

    def __init__(self, crops: np.ndarray, ypr: np.ndarray, preprocessing: Preprocessing):
        self.crops, self.ypr, self.preprocessing = crops, ypr, preprocessing

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, position: int) -> dict:
        return {"image": self.preprocessing.to_uint8(self.crops[position]),
                "ypr": torch.as_tensor(self.ypr[position], dtype=torch.float32), "position": position}


def per_item_ms(tasks: dict, repeats: int) -> dict[str, float]:
    """name → (make_all, count): the best time per item in ms over ``repeats`` rounds, the tasks taken
    in turn within each round (so that a change in the machine's load touches them all alike)."""
    best = {name: float("inf") for name in tasks}
    for _ in range(repeats):
        for name, (make_all, count) in tasks.items():
            started = time.perf_counter()
            make_all()
            best[name] = min(best[name], (time.perf_counter() - started) / count * 1000)
    return best


def _items(dataset):
    return lambda: [dataset[i] for i in range(len(dataset))], len(dataset)


def loaders(raw: Path, data: HPFile, repeats: int) -> dict:
    count = len(data)
    names = sorted(p.with_suffix("") for p in raw.rglob("*.jpg"))
    keys = [str(k) for k in data.keys]
    assert [n.relative_to(raw).as_posix() + ".jpg" for n in names] == keys, "the file and the folder disagree"
    encoded = [np.frombuffer(data.encoded_image(i), np.uint8) for i in range(count)]
    hopenet_pre = Preprocessing(resize_kernel="pil-bilinear")
    opencv_pre = Preprocessing(resize_kernel="opencv-linear")
    reference = HopeNetAFLW2000(names)
    same_crop = HeadPoseDataset(data, range(count), data.box("pt2d"), "hopenet-aflw2000", hopenet_pre)
    for i in range(0, count, max(1, count // 20)):  # identical crops: the same tensors
        torch.testing.assert_close(hopenet_pre.normalise(same_crop[i]["image"]), reference[i][0], atol=1e-5, rtol=0)
    batch = torch.randint(0, 256, (64, 3, 224, 224), dtype=torch.uint8)
    ms = per_item_ms({
        "decode": (lambda: [cv2.imdecode(e, cv2.IMREAD_COLOR) for e in encoded], count),
        "decode_reduced_2": (lambda: [cv2.imdecode(e, cv2.IMREAD_REDUCED_COLOR_2) for e in encoded], count),
        "read_bytes": (lambda: [data.encoded_image(i) for i in range(count)], count),
        "hopenet_loader": _items(reference),
        "hpbench_hopenet_crop_pil": _items(same_crop),
        "hpbench_hopenet_crop_opencv": _items(
            HeadPoseDataset(data, range(count), data.box("pt2d"), "hopenet-aflw2000", opencv_pre)),
        "hpbench_kd_crop_opencv": _items(HeadPoseDataset(data, range(count), data.box("landmarks"), "kd", opencv_pre)),
        "normalise_per_item_in_batch": (lambda: [hopenet_pre.normalise(batch) for _ in range(5)], 5 * len(batch)),
    }, repeats)
    return ms


def crop_cache(data: HPFile, repeats: int) -> dict:
    count, preprocessing = len(data), Preprocessing(resize_kernel="pil-bilinear")
    dataset = HeadPoseDataset(data, range(count), data.box("pt2d"), "hopenet-aflw2000", preprocessing)
    uncached = [dataset[i]["image"] for i in range(count)]
    started = time.perf_counter()
    dataset.crops = cached_crops(dataset, check_before_use(data.path), progress=False)
    build_s = time.perf_counter() - started
    identical = all(torch.equal(dataset[i]["image"], uncached[i]) for i in range(count))
    in_memory = InMemoryCrops(np.stack([dataset.crops[i] for i in range(count)]), dataset.ypr, preprocessing)
    ms = per_item_ms({"cached": _items(dataset), "in_memory": _items(in_memory)}, repeats)
    return {"build_s": round(build_s, 2), "identical_bytes": identical, "cached_ms": ms["cached"],
            "in_memory_ms": ms["in_memory"], "bytes": dataset.crops.path.stat().st_size}


def evaluation(data_dir: Path, work: Path) -> dict:
    weights = work / "kd_student_resnet18.pth"
    torch.manual_seed(0)
    torch.save(create_model("kd_student.resnet18").state_dict(), weights)
    protocol = work / "loader-protocol.yaml"
    protocol.write_text(yaml.safe_dump({
        "name": "loader", "version": 1, "task": "headpose", "filter": {"limit": 99}, "crop": "kd", "input_size": 224,
        "metrics": ["mae"], "changelog": [{"version": 1}],
        "splits": {"test": [{"dataset": "300w_lp", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    runs = {}
    for workers, cache in ((0, False), (0, True), (2, False), (2, True)):
        predictions = work / f"predictions-{workers}-{cache}.csv"
        outcome = evaluate(weights, protocol, data_dir=data_dir, arch="kd_student.resnet18", device="cpu",
                           batch_size=64, workers=workers, progress=False, cache=cache)
        outcome.write_predictions(predictions)
        outcome = outcome.record
        seconds = outcome.results["300w_lp"].seconds
        runs[f"workers_{workers}_cache_{cache}"] = {
            **seconds, "total_over_forward": seconds["total"] / seconds["forward"], "predictions": predictions.read_text()}
    texts = {run.pop("predictions") for run in runs.values()}
    return {"runs": runs, "same_predictions": len(texts) == 1}


def prepare_floor(raw: Path, work: Path, repeats: int) -> dict:
    """``prepare`` (one reading worker) against reading every file's bytes and parsing every .mat, and
    against that plus the damage check prepare makes of every JPEG (a decode at 1/8 scale)."""
    jpgs = sorted(raw.rglob("*.jpg"))

    def read_and_parse(check: bool):
        for jpg in jpgs:
            data = jpg.read_bytes()
            scipy.io.loadmat(jpg.with_suffix(".mat"))
            if check:
                cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)

    def prepare_again():
        out = work / "prepared-again"
        shutil.rmtree(out, ignore_errors=True)
        prepare("300w_lp", raw, out, workers=1, progress=False)

    ms = per_item_ms({"read_and_parse": (lambda: read_and_parse(False), len(jpgs)),
                      "read_parse_and_check": (lambda: read_and_parse(True), len(jpgs)),
                      "prepare": (prepare_again, len(jpgs))}, repeats)
    return {f"{name}_ms": value for name, value in ms.items()}


_ITEM_TIMING = """
import json, sys, time, cv2, torch
cv2.setNumThreads(1); torch.set_num_threads(1)
from hpbench.data.headpose import HeadPoseDataset
from hpbench.data.transforms import Preprocessing
from hpbench.format import HPFile
data = HPFile(sys.argv[1]); n = len(data)
sets = {"kd": HeadPoseDataset(data, range(n), data.box("landmarks"), "kd", Preprocessing()),
        "hopenet_pil": HeadPoseDataset(data, range(n), data.box("pt2d"), "hopenet-aflw2000",
                                       Preprocessing(resize_kernel="pil-bilinear"))}
best = {name: float("inf") for name in sets}
for _ in range(int(sys.argv[2])):
    for name, dataset in sets.items():
        started = time.perf_counter()
        [dataset[i] for i in range(n)]
        best[name] = min(best[name], (time.perf_counter() - started) / n * 1000)
print(json.dumps(best))
"""


def item_times(checkout: Path, data: Path, repeats: int) -> dict[str, float]:
    """``dataset[i]`` per item (ms) of another hpbench checkout (its own items: float before uint8)."""
    result = subprocess.run([sys.executable, "-c", _ITEM_TIMING, str(data.resolve()), str(repeats)], cwd=checkout,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prepare-n", type=int, default=1200, help="images for the prepare measurement")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hpbench-loader"))
    parser.add_argument("--before", type=Path, help="another hpbench checkout: its Dataset items timed beside these")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    os.environ["HPBENCH_CACHE"] = tempfile.mkdtemp()  # a crop cache of this run only
    raw, data_dir = args.work / f"raw-300w_lp-{args.n}", args.work / f"data-300w_lp-{args.n}"
    if not raw.exists():
        write_sample("300w_lp", raw, args.n, seed=0, workers=2)
    if not (data_dir / "300w_lp.h5").exists():
        prepare("300w_lp", raw, data_dir, progress=False)
    data = HPFile(data_dir / "300w_lp.h5")
    ms = loaders(raw, data, args.repeats)
    if args.before:
        here, before = item_times(Path(__file__).parents[1], data.path, args.repeats), item_times(
            args.before, data.path, args.repeats)
        ms.update({f"this_checkout_{k}": v for k, v in here.items()}, **{f"before_{k}": v for k, v in before.items()})
    cache = crop_cache(data, args.repeats)
    torch.set_num_threads(2)  # evaluation as a user runs it: the machine's threads
    scoring = evaluation(data_dir, args.work)
    prepare_raw = args.work / f"raw-300w_lp-{args.prepare_n}"
    if not prepare_raw.exists():
        write_sample("300w_lp", prepare_raw, args.prepare_n, seed=1, workers=2)
    floor = prepare_floor(prepare_raw, args.work, args.repeats)
    cpu = ms["normalise_per_item_in_batch"]
    ratios = {
        "hpbench_over_hopenet_same_crop_pil": ms["hopenet_loader"] / ms["hpbench_hopenet_crop_pil"],
        "hpbench_plus_cpu_normalise_over_hopenet_same_crop_pil": ms["hopenet_loader"] / (
            ms["hpbench_hopenet_crop_pil"] + cpu),
        "hpbench_over_hopenet_same_crop_opencv": ms["hopenet_loader"] / ms["hpbench_hopenet_crop_opencv"],
        "cached_over_hopenet": ms["hopenet_loader"] / cache["cached_ms"],
        "hpbench_kd_over_decode": ms["hpbench_kd_crop_opencv"] / ms["decode"],
        "hpbench_kd_plus_cpu_normalise_over_decode": (ms["hpbench_kd_crop_opencv"] + cpu) / ms["decode"],
        "hpbench_hopenet_opencv_over_decode": ms["hpbench_hopenet_crop_opencv"] / ms["decode"],
        "cached_rate_over_in_memory_rate": cache["in_memory_ms"] / cache["cached_ms"],
        "evaluation_total_over_forward": max(r["total_over_forward"] for r in scoring["runs"].values()),
        "prepare_over_read_and_parse": floor["prepare_ms"] / floor["read_and_parse_ms"],
        "prepare_over_read_parse_and_check": floor["prepare_ms"] / floor["read_parse_and_check_ms"],
    }
    goals = {"hpbench_over_hopenet_same_crop_pil": (">=", 3.0), "hpbench_kd_over_decode": ("<=", 1.3),
             "cached_rate_over_in_memory_rate": (">=", 0.8), "evaluation_total_over_forward": ("<=", 1.10),
             "prepare_over_read_and_parse": ("<=", 2.0)}
    print(f"{args.n} synthetic 300W-LP images, 450 px, 1 thread; per item (ms):")
    for name, value in ms.items():
        print(f"  {name:32s} {value:7.3f}  ({1000 / value:6.0f} images/s)")
    print(f"  {'crop cache':32s} {cache['cached_ms']:7.3f}  (in-memory arrays {cache['in_memory_ms']:.3f}; built in "
          f"{cache['build_s']} s, {cache['bytes'] / 1e6:.1f} MB, identical bytes: {cache['identical_bytes']})")
    print(f"  prepare {floor['prepare_ms']:.3f} vs read + parse {floor['read_and_parse_ms']:.3f} "
          f"(+ the JPEG damage check {floor['read_parse_and_check_ms']:.3f})")
    for name, run in scoring["runs"].items():
        print(f"  evaluate {name}: total {run['total']:.2f} s, forward {run['forward']:.2f} s "
              f"({run['total_over_forward']:.3f}×)")
    print(f"  the same predictions in every evaluation: {scoring['same_predictions']}")
    print("ratios:")
    for name, value in ratios.items():
        goal = goals.get(name)
        verdict = "" if goal is None else (" meets" if (value >= goal[1] if goal[0] == ">=" else value <= goal[1])
                                           else " misses") + f" the goal {goal[0]} {goal[1]}"
        print(f"  {name:40s} {value:6.2f}{verdict}")
    record("loader_speed", {"machine": platform.machine(), "cpus": os.cpu_count(), "n": args.n,
                            "repeats": args.repeats, "per_item_ms": ms, "crop_cache": cache, "evaluation": scoring,
                            "prepare": floor, "ratios": ratios})


if __name__ == "__main__":
    main()
