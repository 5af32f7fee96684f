"""``hpbench export MODEL --onnx OUT``: a model as an ONNX graph that ``hpbench evaluate`` reads, written
only when it predicts what the model predicts.

The model's ``predict`` (angles in its convention, or joints) is traced with a dynamic batch; its
preprocessing, crop rule, convention and architecture go into the sidecar ``OUT.onnx.json``
(hpbench.models.onnx_model). Both are made in a scratch folder beside ``OUT`` and checked by
``parity``: onnxruntime against torch on the same inputs — random images, and with a protocol its test
crops (hpbench.commands.export) — and moved into place only when the largest difference is within
``tolerance``. A graph whose parity is off is removed, never written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hpbench.errors import HpbenchError
from hpbench.models.onnx_model import open_onnx
from hpbench.models.torchscript import Predicting
from hpbench.pose import get_convention

PARITY_TOLERANCE = 1e-3  # outputs (degrees, or pixels): onnxruntime's kernels round otherwise, by ~1e-5


@dataclass
class Parity:
    """Torch against onnxruntime on the same inputs: the largest absolute difference of the outputs."""

    inputs: str
    max_difference: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_difference)) and self.max_difference <= self.tolerance


def sidecar(loaded, input_size: int) -> dict:
    """What the graph cannot say: the model's preprocessing at ``input_size``, crop, convention, arch."""
    preprocessing = loaded.preprocessing_for(input_size)
    content = {"input_size": input_size, "mean": list(preprocessing.mean), "std": list(preprocessing.std),
               "colour": preprocessing.colour, "resize_kernel": preprocessing.resize_kernel,
               "convention": loaded.convention, "arch": loaded.arch}
    return {**content, **({"crop": loaded.crop} if loaded.crop else {})}


def exportable(loaded) -> torch.nn.Module:
    """The module to trace: a registered model's ``predict``, or a TorchScript module as it is."""
    if loaded.kind in ("onnx", "callable"):
        raise HpbenchError(f"{loaded.path}: a {loaded.kind} model has no torch graph to export")
    module = loaded.module
    return module if isinstance(module, torch.jit.ScriptModule) else Predicting(module)


def trace_onnx(loaded, path: Path, input_size: int, device: str = "cpu") -> None:
    """Write the ONNX graph of ``loaded`` (inputs (N, 3, S, S) named ``images``) to ``path``."""
    example = torch.zeros(2, 3, input_size, input_size, device=device)  # 2: the batch axis stays an axis
    try:
        with warnings.catch_warnings():  # torch ≥ 2.9 deprecates the TorchScript-based exporter; it works
            warnings.simplefilter("ignore")
            torch.onnx.export(exportable(loaded).eval(), example, str(path), input_names=["images"],
                              output_names=["values"], dynamic_axes={"images": {0: "batch"}, "values": {0: "batch"}},
                              dynamo=False)
    except (RuntimeError, TypeError, ValueError) as err:
        raise HpbenchError(f"{loaded.path}: {loaded.arch} does not export to ONNX "
                           f"({type(err).__name__}: {str(err).splitlines()[0][:160]})") from None


def random_parity(loaded, graph: Path, input_size: int, device: str = "cpu",
                  tolerance: float = PARITY_TOLERANCE) -> Parity:
    """Torch and onnxruntime on 4 random images of the input size."""
    images = torch.randn(4, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    model, _, _, _ = open_onnx(graph)
    with torch.inference_mode():
        expected = loaded.predict(images.to(device)).float().cpu()
        found = model.predict(images).float().cpu()
    difference = float((expected - found).abs().max()) if expected.shape == found.shape else float("inf")
    return Parity("4 random images", difference, tolerance)


@dataclass
class Export:
    """A graph and its sidecar in a scratch folder, moved to their place by ``publish``."""

    scratch: Path
    out: Path

    @property
    def graph(self) -> Path:
        return self.scratch / "model.onnx"

    def publish(self) -> Path:
        os.replace(self.graph.with_name("model.onnx.json"), self.out.with_name(self.out.name + ".json"))
        os.replace(self.graph, self.out)
        self.discard()
        return self.out

    def discard(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def start_export(loaded, out: Path, input_size: int) -> Export:
    """Trace ``loaded`` and write its sidecar in a scratch folder beside ``out``."""
    out = Path(out)
    try:
        get_convention(loaded.convention)
    except HpbenchError:
        raise HpbenchError(f"{loaded.path}: its outputs ({loaded.convention}) are not in a pose convention an ONNX "
                           "sidecar declares; only head-pose models export to ONNX") from None
    if out.suffix.lower() != ".onnx":
        raise HpbenchError(f"--onnx {out}: the file name must end in .onnx (evaluate reads it by its suffix)")
    out.parent.mkdir(parents=True, exist_ok=True)
    made = Export(Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent)), out)
    try:
        trace_onnx(loaded, made.graph, input_size)
        made.graph.with_name("model.onnx.json").write_text(json.dumps(sidecar(loaded, input_size), indent=2) + "\n")
    except BaseException:
        made.discard()
        raise
    return made
