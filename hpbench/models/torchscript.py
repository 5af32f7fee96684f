"""TorchScript files: writing hpbench's, and reading anyone's as the program it is.

A TorchScript archive holds source code that torch compiles and runs: its ``__setstate__`` methods
run while ``torch.jit.load`` builds the module, its ``forward`` on every batch, and either may call
``torch.from_file`` (which maps any file, writably) or loop for ever. Unless the user trusts the
file (``--trust-checkpoint``), hpbench therefore

1. reads the archive with ``zipfile`` before torch does: one entry per name, sizes that are not a
   zip bomb, and no ``__setstate__`` anywhere in its code (nothing runs while loading);
2. after loading, inlines ``forward`` and checks every node of its graph, sub-blocks included,
   against ``PURE_OPS``: tensor arithmetic, layers and shape bookkeeping, nothing that reads or
   writes files, loops, calls out or prints (a traced model, e.g. ``save_torchscript``'s, has only
   such nodes); a constant size list above ``MAX_CONSTANT_ELEMENTS`` is refused too;
3. runs each forward under a watchdog (``watched``) that ends the process with one line when one
   batch takes longer than ``--forward-timeout``.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch

from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError

METADATA_FILE = "hpbench.json"
FORWARD_TIMEOUT = 300.0  # seconds one batch may take before the watchdog ends the run
MAX_CONSTANT_ELEMENTS = 2**26  # a constant size list that asks for more elements is refused (an allocation bomb)
_SETSTATE = re.compile(rb"\b__setstate__\b")
_STORAGE = re.compile(r"(^|/)data/\d+$")  # tensor bytes: data, never compiled

# The ops of traced vision models: arithmetic, layers, reductions, indexing and shapes. No op here
# touches a file, the network, a process or the console, and none loops.
PURE_OPS = frozenset({
    "prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::ListUnpack", "prim::TupleConstruct",
    "prim::TupleUnpack", "prim::TupleIndex", "prim::NumToTensor", "prim::If", "prim::ConstantChunk",
    "prim::unchecked_cast", "prim::Uninitialized", "prim::dtype", "prim::device", "prim::min", "prim::max",
    *(f"aten::{name}" for name in (
        "Int", "Float", "Bool", "ScalarImplicit", "size", "dim", "numel", "len", "__getitem__", "__and__", "__or__",
        "__not__", "__is__", "__isnot__", "eq", "ne", "lt", "le", "gt", "ge", "floordiv", "floor_divide", "remainder",
        "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "abs", "pow", "sqrt", "rsqrt", "exp",
        "log", "log1p", "sin", "cos", "tan", "atan", "atan2", "asin", "acos", "tanh", "sigmoid", "sign", "floor",
        "ceil", "round", "reciprocal", "clamp", "clamp_", "clamp_min", "clamp_max", "clip", "maximum", "minimum",
        "where", "logical_and", "logical_or", "logical_not", "isnan", "isfinite", "bitwise_and",
        "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "gelu", "silu", "silu_", "hardswish",
        "hardswish_", "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "prelu", "softplus", "mish",
        "softmax", "log_softmax", "dropout", "feature_dropout", "alpha_dropout", "contiguous", "clone", "detach",
        "_convolution", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "linear", "matmul", "mm", "bmm", "addmm",
        "einsum", "batch_norm", "layer_norm", "group_norm", "instance_norm", "max_pool2d", "avg_pool2d",
        "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_pool1d", "avg_pool1d", "upsample_nearest2d",
        "upsample_bilinear2d", "pixel_shuffle", "pad", "constant_pad_nd", "reflection_pad2d", "replication_pad2d",
        "mean", "sum", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "std", "var", "norm",
        "linalg_vector_norm", "frobenius_norm", "cumsum", "cross", "dot", "topk", "sort",
        "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "t", "expand",
        "expand_as", "repeat", "cat", "stack", "split", "split_with_sizes", "chunk", "unbind", "select", "slice",
        "narrow", "index_select", "gather", "index", "flip", "roll", "to", "type_as", "float", "double", "half",
        "arange", "zeros", "ones", "zeros_like", "ones_like", "full", "full_like", "empty_like", "one_hot",
        "tensor", "scalar_tensor", "masked_fill", "masked_fill_", "fill_", "zero_", "copy_", "atan2_",
        "lerp", "addcmul", "l1_loss", "mse_loss", "cosine_similarity", "normalize",
    )),
})
_LOOP_HINT = "a loop, whose running time a file can make endless"


class Predicting(torch.nn.Module):
    """A registered model whose ``forward`` is its ``predict`` (angles, not logits): what
    ``save_torchscript`` traces for it."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.predict(images)


def save_torchscript(model: torch.nn.Module, path: str | Path, example: torch.Tensor, convention: str = "hpbench",
                     preprocessing: Preprocessing = Preprocessing(), crop: str | None = None) -> None:
    """Trace ``model`` (whose forward gives angles) to TorchScript with hpbench's metadata."""
    metadata = {"input_size": preprocessing.input_size, "mean": list(preprocessing.mean),
                "std": list(preprocessing.std), "colour": preprocessing.colour,
                "resize_kernel": preprocessing.resize_kernel, "crop": crop, "convention": convention}
    with warnings.catch_warnings():  # torch ≥ 2.9 flags TorchScript as deprecated; it still works
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model.eval(), example)
        torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(metadata)})


def is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.endswith("/constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def archive_problem(path: Path) -> str | None:
    """Why the archive may not be loaded untrusted: code that runs while loading, or a malformed zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            names = [entry.filename for entry in entries]
            if len(set(names)) != len(names):
                return "two archive entries share a name (which one torch reads is not what hpbench checked)"
            declared = sum(entry.file_size for entry in entries)
            if declared > 4 * path.stat().st_size + 2**20:
                return f"its entries unpack to {declared:,} bytes from a {path.stat().st_size:,}-byte file (a zip bomb?)"
            for entry in entries:
                if not _STORAGE.search(entry.filename) and _SETSTATE.search(archive.read(entry)):
                    return (f"{entry.filename} defines __setstate__, code that runs while torch loads the file")
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as err:
        return f"not a readable zip archive ({type(err).__name__}: {err})"
    return None


def graph_problems(module: torch.jit.ScriptModule) -> list[str]:
    """Nodes of the inlined ``forward`` graph outside ``PURE_OPS`` (each kind once, with its source line)."""
    problems: dict[str, str] = {}

    def walk(block) -> None:
        for node in block.nodes():
            kind = node.kind()
            if kind not in PURE_OPS and kind not in problems:
                where = _printable(node.sourceRange().strip().split("\n")[0][:80])
                why = _LOOP_HINT if kind == "prim::Loop" else "not a pure tensor operation"
                problems[kind] = f"{kind} ({why}{f': {where}' if where else ''})"
            if kind == "prim::ListConstruct":
                sizes = [n.i("value") if n.kind() == "prim::Constant" and n.output().type().kind() == "IntType"
                         else None for n in (value.node() for value in node.inputs())]
                if sizes and None not in sizes and math.prod(abs(s) for s in sizes) > MAX_CONSTANT_ELEMENTS:
                    problems.setdefault("size", f"a constant size {sizes} of more than {MAX_CONSTANT_ELEMENTS:,} "
                                                "elements (an allocation bomb)")
            for inner in node.blocks():
                walk(inner)

    try:
        walk(module.inlined_graph)
    except RuntimeError as err:
        return [f"its forward cannot be inlined ({str(err).splitlines()[0][:120]})"]
    return list(problems.values())


def _printable(text: str) -> str:
    """The file's own text (its debug source lines), safe to print: no control characters."""
    return "".join(char if char.isprintable() else "?" for char in text)


def load_torchscript(path: Path, device: str, trust: bool) -> tuple[torch.jit.ScriptModule, str]:
    """The module and its ``hpbench.json`` text, after the checks of the module docstring unless ``trust``."""
    untrusted = " Pass --trust-checkpoint only if you trust where the file comes from: TorchScript is a program."
    if not trust:
        problem = archive_problem(path)
        if problem:
            raise HpbenchError(f"{path}: refused, {problem}.{untrusted}")
    extra = {METADATA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except (RuntimeError, ValueError, OSError) as err:
        raise HpbenchError(f"{path}: not a loadable TorchScript file ({str(err).splitlines()[0][:200]})") from None
    if not trust:
        problems = graph_problems(module)
        if problems:
            shown = "; ".join(problems[:4]) + (f"; … {len(problems) - 4} more" if len(problems) > 4 else "")
            raise HpbenchError(f"{path}: refused, its forward holds operations hpbench does not run from an "
                               f"untrusted file: {shown}.{untrusted}")
    text = extra[METADATA_FILE]
    return module, text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def watched(forward: Callable[[torch.Tensor], torch.Tensor], path: Path,
            seconds: float = FORWARD_TIMEOUT) -> Callable[[torch.Tensor], torch.Tensor]:
    """``forward`` under a watchdog: a batch that takes more than ``seconds`` ends the process with one
    line (a forward pass inside torch cannot be interrupted otherwise)."""

    def give_up() -> None:
        print(f"hpbench: error: {path}: one forward pass ran for more than {seconds:g} s and was stopped (a "
              "model file can hold a program that never ends); --forward-timeout S allows longer",
              file=sys.stderr, flush=True)
        os._exit(3)

    def predict(images: torch.Tensor) -> torch.Tensor:
        timer = threading.Timer(seconds, give_up)
        timer.daemon = True
        timer.start()
        try:
            return forward(images)
        finally:
            timer.cancel()

    return predict
