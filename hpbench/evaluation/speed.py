"""``hpbench bench`` and ``evaluate --bench``: the speed section of a model at its protocol's input size,
through PyTorch and, where the model exports to a graph whose parity holds, through onnxruntime."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from hpbench.errors import HpbenchError
from hpbench.models.export import random_parity, start_export
from hpbench.models.inference import checked_device, gflops
from hpbench.models.loading import load_model
from hpbench.models.speed import measure
from hpbench.protocols import Protocol, load_protocol


def bench_section(model, protocol=None, input_size: int | None = None, batch: int = 32, repeats: int = 20,
                  warmup: int = 3, onnx: bool = True, device: str | None = None, arch: str | None = None,
                  convention: str | None = None, trust: bool = False) -> dict:
    """The ``speed`` section (hpbench.models.speed.measure) of any model ``evaluate`` reads, at
    ``input_size`` (default: the protocol's, else the model's own, else 224)."""
    device = checked_device(device)
    loaded = load_model(model, arch=arch, convention=convention, trust=trust, device=device)
    spec = protocol if isinstance(protocol, Protocol) or protocol is None else load_protocol(protocol)
    size = input_size or (spec.input_size if spec else None) or (
        loaded.preprocessing.input_size if loaded.preprocessing else 224)
    folder = Path(tempfile.mkdtemp(prefix="hpbench-bench-"))
    try:
        graph, note = _onnx_graph(loaded, size, device, folder) if onnx or loaded.kind == "onnx" else (None, "")
        section = measure(loaded, size, device, batch, repeats, warmup, graph)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    section.update(parameters_m=round(loaded.parameters_m, 3), gflops=gflops(loaded.predict, size, device),
                   model=loaded.path.name, arch=loaded.arch, note=note)
    return section


def _onnx_graph(loaded, size: int, device: str, folder: Path) -> tuple[Path | None, str]:
    """The ONNX graph to time (the model's own, or its export into ``folder`` when its parity holds)
    and what to say of it."""
    if loaded.kind == "onnx":
        return loaded.path, ""
    if importlib.util.find_spec("onnxruntime") is None:
        return None, "no ONNX run: onnxruntime is not installed (pip install -e '.[onnx]')"
    try:
        made = start_export(loaded, folder / "bench.onnx", size)
        parity = random_parity(loaded, made.graph, size, device)
    except HpbenchError as err:
        return None, f"no ONNX run: {err}"
    note = f"ONNX export's parity on {parity.inputs}: largest difference {parity.max_difference:.1e}"
    return (made.graph, note) if parity.ok else (None, f"no ONNX run: {note} is off")
