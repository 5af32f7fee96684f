"""Speed and size as results: latency, throughput and peak memory of a loaded model, measured.

Each run feeds random inputs of the model's input size after ``warmup`` passes and times ``repeats``
passes: batch-1 latency (median and 90th percentile) and batch-N throughput, on the CPU with one thread
and with all of them, on a CUDA device when one is present (with and without AMP), through PyTorch and
through onnxruntime when an ONNX graph of the model is at hand (hpbench.models.export). The section
names the hardware (CPU model, cores, GPU) and the library versions: a speed is a fact about a machine,
and rows measured on different machines are never ranked against each other.

Peak memory on the CPU is the process's resident high-water mark over the runs (Linux: reset through
``/proc/self/clear_refs`` first; None elsewhere); on a GPU, torch's peak allocation.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from hpbench import __version__

logger = logging.getLogger(__name__)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; platform's word elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cores": cores, "gpu": gpu, "platform": platform.platform()}


def versions() -> dict:
    found = {"hpbench": __version__, "torch": torch.__version__}
    try:
        import onnxruntime

        found["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return found


@contextmanager
def threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` for the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _peak_rss_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(run: Callable[[], object], repeats: int, warmup: int, synchronise: Callable[[], None]) -> list[float]:
    """Seconds of each of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    synchronise()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        synchronise()
        seconds.append(time.perf_counter() - started)
    return seconds


def summary(seconds: list[float], batch: int) -> dict:
    """Median and 90th-percentile milliseconds per pass, and images per second at the median."""
    median = statistics.median(seconds)
    return {"median_ms": round(median * 1000, 3), "p90_ms": round(float(np.percentile(seconds, 90)) * 1000, 3),
            "images_per_s": round(batch / median, 2)}


def torch_runs(predict: Callable[[torch.Tensor], torch.Tensor], input_size: int, device: str, batch: int,
               repeats: int, warmup: int) -> list[dict]:
    """PyTorch's runs on ``device``: CPU with one thread and all threads, or CUDA with and without AMP."""
    runs = []
    if device.startswith("cuda"):
        variants = [("fp32", False), ("amp", True)]

        def synchronise():
            torch.cuda.synchronize()
    else:
        variants = [("1 thread", 1), ("all threads", torch.get_num_threads())]

        def synchronise():
            return None
    for label, setting in variants:
        for size in (1, batch):
            images = torch.randn(size, 3, input_size, input_size, device=device)
            if device.startswith("cuda"):
                def run(images=images, amp=setting):
                    with torch.inference_mode(), torch.autocast("cuda", enabled=amp):
                        predict(images)
                seconds = timed(run, repeats, warmup, synchronise)
            else:
                def run(images=images):
                    with torch.inference_mode():
                        predict(images)
                with threads(setting):
                    seconds = timed(run, repeats, warmup, synchronise)
            runs.append({"runtime": "torch", "device": device, "setting": label, "batch": size,
                         **summary(seconds, size)})
    return runs


def onnx_runs(path: Path, input_size: int, batch: int, repeats: int, warmup: int) -> list[dict]:
    """onnxruntime's CPU runs of an ONNX graph: one thread and all threads, batch 1 and ``batch``."""
    import onnxruntime

    runs = []
    for label, count in (("1 thread", 1), ("all threads", 0)):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = count
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for size in (1, batch):
            images = np.random.default_rng(0).standard_normal((size, 3, input_size, input_size), dtype=np.float32)
            seconds = timed(lambda: session.run(None, {name: images}), repeats, warmup, lambda: None)
            runs.append({"runtime": "onnxruntime", "device": "cpu", "setting": label, "batch": size,
                         **summary(seconds, size)})
    return runs


def measure(loaded, input_size: int, device: str, batch: int = 32, repeats: int = 20, warmup: int = 3,
            onnx_path: Path | None = None) -> dict:
    """The ``speed`` section of a record for a loaded model (hpbench.models.loading.LoadedModel)."""
    reset = _peak_rss_reset() if not device.startswith("cuda") else False
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    runs = torch_runs(loaded.predict, input_size, device, batch, repeats, warmup)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else _peak_rss_mb() if reset else None)
    if onnx_path is not None:
        runs += onnx_runs(onnx_path, input_size, batch, repeats, warmup)
    file_mb = loaded.path.stat().st_size / 2**20 if loaded.path.is_file() else None
    return {"hardware": hardware(), "versions": versions(),
            "settings": {"input_size": input_size, "batch": batch, "repeats": repeats, "warmup": warmup},
            "runs": runs, "peak_memory_mb": None if peak is None else round(peak, 1),
            "file_mb": None if file_mb is None else round(file_mb, 3)}


def latency(section: dict) -> tuple[float, str] | None:
    """The number the leaderboard shows: PyTorch's batch-1 median ms with one CPU thread (or the first
    batch-1 run), and where it was measured."""
    runs = [r for r in section.get("runs", []) if r.get("runtime") == "torch" and r.get("batch") == 1]
    if not runs:
        return None
    chosen = next((r for r in runs if r.get("setting") == "1 thread"), runs[0])
    hardware = section.get("hardware") if isinstance(section.get("hardware"), dict) else {}
    where = hardware.get("gpu") if str(chosen.get("device", "")).startswith("cuda") else hardware.get("cpu")
    return float(chosen["median_ms"]), f"{where}, {chosen.get('setting')}"


def speed_table(section: dict) -> str:
    """The printed measurement: one row per runtime, device, setting and batch."""
    from tabulate import tabulate

    rows = [[r["runtime"], r["device"], r["setting"], r["batch"], f"{r['median_ms']:.2f}", f"{r['p90_ms']:.2f}",
             f"{r['images_per_s']:.1f}"] for r in section["runs"]]
    hardware = section["hardware"]
    title = (f"{section.get('model', '')} ({section.get('arch', '')}) at {section['settings']['input_size']} px · "
             f"{hardware['cpu']}, {hardware['cores']} cores" + (f", {hardware['gpu']}" if hardware.get("gpu") else ""))
    size = (f"{section.get('parameters_m')} M parameters · {section.get('gflops')} GFLOPs · file "
            f"{section.get('file_mb')} MB · peak memory {section.get('peak_memory_mb')} MB")
    table = tabulate(rows, headers=["runtime", "device", "setting", "batch", "median ms", "p90 ms", "images/s"],
                     disable_numparse=True)
    return "\n".join([title, table, size] + ([section["note"]] if section.get("note") else []))
