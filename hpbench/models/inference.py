"""Running a model over a Dataset in order, batched: what evaluation and the teacher cache share."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from hpbench.errors import HpbenchError


def checked_device(device: str | None) -> str:
    """``device`` (default: cuda when present) if this machine has it; else a one-line error."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise HpbenchError(f"--device {device!r}: not a device name (cpu, cuda, cuda:1, mps …)") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise HpbenchError(f"--device {device}: this machine has no CUDA GPU that torch can use; pass --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise HpbenchError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise HpbenchError(f"--device {device}: MPS is not available here; pass --device cpu")
    return device


def run_batches(dataset, step: Callable[[torch.Tensor, dict], tuple], device: str, batch_size: int, workers: int,
                desc: str, progress: bool = True) -> tuple[list[np.ndarray], float, float]:
    """``step(images, batch)`` over the dataset in order, a batch at a time: the items' uint8 images are
    normalised by ``dataset.preprocessing`` on the device. ``step`` returns a tuple of tensors with one
    row per image; the result is each of them concatenated (float32 on the CPU), the seconds spent in
    ``step`` and the seconds in all."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False,
                        pin_memory=device.startswith("cuda"))
    parts: list[list[np.ndarray]] = []
    forward_seconds, started = 0.0, time.perf_counter()
    with torch.inference_mode():
        for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress):
            images = dataset.preprocessing.normalise(batch["image"].to(device, non_blocking=True))
            tick = time.perf_counter()
            values = [value.detach().float().cpu().numpy() for value in step(images, batch)]
            forward_seconds += time.perf_counter() - tick
            parts.append(values)
    columns = [np.concatenate(column) for column in zip(*parts)]
    return columns, forward_seconds, time.perf_counter() - started


def run_model(dataset, predict: Callable[[torch.Tensor], torch.Tensor], device: str, batch_size: int, workers: int,
              desc: str, progress: bool = True, check=None) -> tuple[np.ndarray, float, float]:
    """``predict`` over the dataset's images in order (run_batches): (outputs (N, …) float32, seconds in
    predict, seconds in all). ``check(values, n)`` runs on each batch's output (to stop at the first
    wrong one)."""

    def step(images: torch.Tensor, batch: dict) -> tuple[torch.Tensor]:
        values = predict(images)
        if isinstance(values, (tuple, list, dict)):
            raise HpbenchError(f"the model returned a {type(values).__name__}; it must return one tensor of angles")
        if check is not None:
            check(values, len(images))
        return (values,)

    (values,), forward_seconds, total_seconds = run_batches(dataset, step, device, batch_size, workers, desc, progress)
    return values, forward_seconds, total_seconds


def gflops(predict: Callable[[torch.Tensor], torch.Tensor], input_size: int, device: str) -> float | None:
    """GFLOPs of one forward pass of one image at the input size (torch's counter: a multiply-add is 2
    FLOPs); None where the counter sees none (e.g. a TorchScript module it cannot see into)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            predict(torch.zeros(1, 3, input_size, input_size, device=device))
    except (RuntimeError, ValueError):  # a model that refuses one image (BatchNorm in training mode) counts nothing
        return None
    total = counter.get_total_flops()
    return round(total / 1e9, 3) if total else None
