"""What a result record says of its protocol (with the key lists scored) and of its model file
(hash, architecture, convention, size and GFLOPs): shared by head- and body-pose evaluation."""

from __future__ import annotations

import torch

from hpbench.evaluation.records import ModelInfo, ProtocolRef
from hpbench.models.loading import LoadedModel
from hpbench.protocols import Protocol


def record_head(protocol: Protocol, results: dict, model: LoadedModel, input_size: int,
                device: str) -> tuple[ProtocolRef, ModelInfo]:
    """What a record says of its protocol (with the scored key lists) and of its model file."""
    return (ProtocolRef(protocol.name, protocol.version, {d: r.keys_sha256 for d, r in results.items()},
                        protocol.test_split, protocol.sha256),
            ModelInfo(model.path.name, model.sha256, model.arch, model.convention, model.kind,
                      round(model.parameters_m, 3), gflops(model, input_size, device), round(model.memory_mb, 3)))


def gflops(model: LoadedModel, input_size: int, device: str) -> float | None:
    """GFLOPs of one forward pass at the input size (torch's counter: a multiply-add is 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model.predict(torch.zeros(1, 3, input_size, input_size, device=device))
    except RuntimeError:
        return None  # e.g. a TorchScript module the counter cannot see into
    total = counter.get_total_flops()
    return round(total / 1e9, 3) if total else None
