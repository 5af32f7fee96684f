"""ONNX files, run with onnxruntime (the ``[onnx]`` extra): a model exported by anyone, from any
framework, whose graph outputs angles (or a rotation matrix) in a registered pose convention.

What the graph cannot say is named in a JSON sidecar ``<file>.onnx.json`` (or, the same JSON, in the
file's ``metadata_props`` under ``hpbench``): the keys of ``MODEL_METADATA`` (input size, mean, std,
colour, resize kernel, crop rule, convention) and three of its own:

* ``input``: the input's name (default: the graph's only input);
* ``outputs``: output names whose values (N, …) are joined on their last axis in this order, e.g.
  ``["yaw", "pitch", "roll"]`` for three (N, 1) outputs (default: the graph's only output);
* ``layout``: ``nchw`` or ``nhwc`` (default: read from the input's shape, where channels are 3).

Without a sidecar the input size comes from the input's shape, and the rest are the defaults
(ImageNet normalisation, RGB, the ``hpbench`` convention or ``--convention``). A fixed batch size
in the graph is honoured (the last batch is padded and trimmed).

ONNX runs no Python code, but a tensor may keep its values in an external file named inside the
model: such names are confined to the model's folder (hpbench.paths), checked before onnxruntime
reads anything.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hpbench.errors import HpbenchError
from hpbench.models.metadata import MODEL_METADATA, checked_metadata, json_object
from hpbench.paths import path_problem

ONNX_KEYS = ("input", "outputs", "layout")
_INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _require_runtime():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise HpbenchError("ONNX files need the onnx extra: pip install 'hpbench[onnx]'") from None
    return onnx, onnxruntime


def _tensors(graph):
    """Every tensor stored in a graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for subgraph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _tensors(subgraph)


def _checked_proto(onnx, path: Path):
    """The model proto without its external data, after confining every external data name; and the
    external data files it names."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends: not an ONNX file
        raise HpbenchError(f"{path}: not an ONNX file ({type(err).__name__}: {err})") from None
    external = set()
    for tensor in _tensors(proto.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {entry.key: entry.value for entry in tensor.external_data}.get("location", "")
        problem = path_problem(location)
        if problem:
            raise HpbenchError(f"{path}: tensor {tensor.name!r} keeps its values in {location!r}, {problem}; "
                               "hpbench only reads external data inside the model's folder")
        external.add(path.parent / location)
    return proto, sorted(external)


def read_metadata(path: Path, proto) -> dict:
    """The sidecar's JSON, else the file's ``hpbench`` metadata property, else {}; checked."""
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file():
        source, text = str(sidecar), sidecar.read_text(encoding="utf-8", errors="replace")
    else:
        properties = {entry.key: entry.value for entry in proto.metadata_props}
        source, text = f"{path} (metadata_props 'hpbench')", properties.get("hpbench", "{}")
    return checked_metadata(json_object(text, source), MODEL_METADATA + ONNX_KEYS, source)


class OnnxModel(nn.Module):
    """An onnxruntime session behind ``predict(images) -> values``; it holds no torch parameters
    (``parameter_count`` is the graph's initializer size)."""

    def __init__(self, session, input_name: str, output_names: list[str], layout: str, parameter_count: int):
        super().__init__()
        self.session, self.input_name, self.output_names, self.layout = session, input_name, output_names, layout
        self.parameter_count = parameter_count
        node = next(i for i in session.get_inputs() if i.name == input_name)
        self.batch = node.shape[0] if isinstance(node.shape[0], int) and node.shape[0] > 0 else None
        self.dtype = _INPUT_TYPES[node.type]

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        x = images.detach().cpu().numpy().astype(self.dtype, copy=False)
        if self.layout == "nhwc":
            x = x.transpose(0, 2, 3, 1)
        step = self.batch or len(x)
        parts = []
        for start in range(0, len(x), step):
            chunk = x[start:start + step]
            count = len(chunk)
            if count < step:  # a graph with a fixed batch size: pad the last batch, keep its first rows
                chunk = np.concatenate([chunk, np.zeros((step - count, *chunk.shape[1:]), chunk.dtype)])
            try:
                values = self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(chunk)})
            except Exception as err:  # onnxruntime's own exception types: a graph that fails on this input
                raise HpbenchError(f"the ONNX graph failed on a batch of shape {tuple(chunk.shape)} "
                                   f"({type(err).__name__}: {' '.join(str(err).split())[:300]})") from None
            joined = values[0] if len(values) == 1 else np.concatenate(
                [np.asarray(v).reshape(len(v), -1) for v in values], axis=-1)
            parts.append(np.asarray(joined, dtype=np.float32)[:count])
        return torch.from_numpy(np.concatenate(parts)).to(images.device)

    forward = predict


def _layout(shape, path: Path, declared: str | None) -> str:
    if declared is not None:
        if declared not in ("nchw", "nhwc"):
            raise HpbenchError(f"{path}: layout must be nchw or nhwc, not {declared!r}")
        return declared
    if len(shape) == 4 and shape[1] == 3:
        return "nchw"
    if len(shape) == 4 and shape[3] == 3:
        return "nhwc"
    raise HpbenchError(f"{path}: cannot tell the channel axis of input shape {shape}; "
                       "name it in the sidecar: \"layout\": \"nchw\" or \"nhwc\"")


def _one(names: list[str], wanted, what: str, path: Path) -> str:
    if wanted is None:
        if len(names) != 1:
            raise HpbenchError(f"{path}: the graph has {len(names)} {what}s ({', '.join(names)}); name the one to "
                               f"use in the sidecar's \"{what}\"")
        return names[0]
    if wanted not in names:
        raise HpbenchError(f"{path}: no {what} named {wanted!r} (the graph has {', '.join(names)})")
    return wanted


def open_onnx(path: Path, device: str = "cpu") -> tuple[OnnxModel, dict, int | None, list[Path]]:
    """(the model, its checked metadata, the input size its graph fixes or None, and every file the
    model is made of: the graph, its external data and its sidecar)."""
    onnx, onnxruntime = _require_runtime()
    proto, external = _checked_proto(onnx, path)
    metadata = read_metadata(path, proto)
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=providers)
    except Exception as err:  # onnxruntime's own exception types: an unsupported or broken graph
        raise HpbenchError(f"{path}: onnxruntime cannot run it ({type(err).__name__}: {str(err)[:300]})") from None
    inputs = {node.name: node for node in session.get_inputs()}
    input_name = _one(list(inputs), metadata.get("input"), "input", path)
    node = inputs[input_name]
    if node.type not in _INPUT_TYPES:
        raise HpbenchError(f"{path}: input {input_name!r} is {node.type}; hpbench feeds float images")
    layout = _layout(node.shape, path, metadata.get("layout"))
    wanted = metadata.get("outputs")
    available = [output.name for output in session.get_outputs()]
    if wanted is None:
        outputs = [_one(available, None, "output", path)]
    elif isinstance(wanted, list) and wanted and all(isinstance(name, str) for name in wanted):
        outputs = [_one(available, name, "output", path) for name in wanted]
    else:
        raise HpbenchError(f"{path}: \"outputs\" must be a list of output names, not {wanted!r}")
    height, width = (node.shape[2], node.shape[3]) if layout == "nchw" else (node.shape[1], node.shape[2])
    size = height if isinstance(height, int) and height == width else None
    parameters = sum(math.prod(tensor.dims) for tensor in proto.graph.initializer)
    sidecar = path.with_name(path.name + ".json")
    files = [path, *external, *([sidecar] if sidecar.is_file() else [])]
    return OnnxModel(session, input_name, outputs, layout, parameters), metadata, size, files
