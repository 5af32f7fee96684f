"""``hpbench export MODEL --onnx OUT [--protocol P --data DIR]``: the ONNX graph and its sidecar, written
only when onnxruntime predicts what torch predicts — on random images, and with a protocol on its test
crops (the largest difference in the outputs' unit, and the primary metric of both)."""

from __future__ import annotations

import numpy as np

from hpbench.errors import HpbenchError
from hpbench.evaluation.evaluate import evaluate
from hpbench.models.export import PARITY_TOLERANCE, Parity, random_parity, start_export
from hpbench.models.inference import checked_device
from hpbench.models.loading import load_model
from hpbench.protocols import load_protocol


def run(model: str, onnx: str, protocol: str | None = None, data_dir: str = "data", input_size: int | None = None,
        arch: str | None = None, convention: str | None = None, trust: bool = False, tolerance: float | None = None,
        workers: int = 0) -> int:
    tolerance = tolerance or PARITY_TOLERANCE
    spec = load_protocol(protocol) if protocol else None
    loaded = load_model(model, arch=arch, convention=convention, trust=trust, device=checked_device("cpu"))
    size = input_size or (spec.input_size if spec else None) or (loaded.preprocessing.input_size
                                                                  if loaded.preprocessing else 224)
    made = start_export(loaded, onnx, size)
    try:
        checks = [random_parity(loaded, made.graph, size, tolerance=tolerance)]
        lines = [f"{checks[0].inputs}: largest difference {checks[0].max_difference:.2e}"]
        if spec is not None:
            ours = evaluate(loaded, spec, data_dir=data_dir, device="cpu", workers=workers, progress=False)
            theirs = evaluate(made.graph, spec, data_dir=data_dir, device="cpu", workers=workers, progress=False)
            for mine, other in zip(ours.predictions, theirs.predictions):
                name = mine.selection.dataset
                difference = float(np.abs(mine.predicted - other.predicted).max())
                key = spec.primary.key
                lines.append(f"{name} ({len(mine.predicted)} test crops): largest difference {difference:.2e}; "
                             f"{spec.primary.header} {ours.record.results[name].metrics[key]:.4f} with torch, "
                             f"{theirs.record.results[name].metrics[key]:.4f} with onnxruntime")
                checks.append(Parity(f"{name} test crops", difference, tolerance))
        print("\n".join(lines))
        failed = [check for check in checks if not check.ok]
        if failed:
            raise HpbenchError(f"{onnx}: parity is off on {failed[0].inputs} (largest difference "
                               f"{failed[0].max_difference:.2e} > {tolerance:g}); nothing was written")
        print(f"wrote {made.publish()} and its sidecar {onnx}.json (parity within {tolerance:g})")
    finally:
        made.discard()
    return 0
