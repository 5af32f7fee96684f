"""Loading a model file for evaluation (``FORMATS``): TorchScript, an hpbench checkpoint, a bare state
dict, a Keras weights file of a ported family, or ONNX.

* TorchScript (``torch.jit.save``): ``forward(images)`` returns the angles. Optional metadata in the
  archive's extra file ``hpbench.json``: the keys of ``MODEL_METADATA`` (see ``save_torchscript``).
* hpbench checkpoint (``hpbench train``): a dict with ``format: hpbench-checkpoint``, ``arch``,
  ``config``, ``state_dict``.
* A bare state dict with ``--arch NAME`` (e.g. kd_oe_hpe's released ``resnet50.pth`` with
  ``--arch kd_student.resnet50``, HopeNet's ``hopenet_robust_alpha1.pkl`` with ``--arch
  hopenet.resnet50``), in hpbench's key layout or, where the family knows it, its authors'
  (``adopt_state_dict``).
* Keras weights (HDF5) with ``--arch whenet``: read with h5py into the family's port.
* ONNX (``*.onnx``, or ``--arch onnx``): run by onnxruntime, its metadata in a sidecar
  (hpbench.models.onnx_model).

``.pt`` files are unpickled with ``weights_only=True`` unless the user trusts the file: unpickling
can run code. TorchScript is a program: an untrusted one is checked before and after loading and
watched while it runs (hpbench.models.torchscript).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError
from hpbench.models.base import DEFAULT_TASK
from hpbench.models import create_model
from hpbench.models.checkpoint import Checkpoint, is_checkpoint, read_torch_file
from hpbench.models.metadata import MODEL_METADATA, checked_metadata, json_object
from hpbench.models.objects import checked_preprocessing, describe_object, object_identity
from hpbench.models.torchscript import FORWARD_TIMEOUT, METADATA_FILE, is_torchscript, load_torchscript, watched
from hpbench.pose import get_convention
from hpbench.provenance import file_sha256, files_sha256

FORMATS = {
    "checkpoint": "hpbench train's model.pt (architecture, config and preprocessing inside)",
    "torchscript": "torch.jit.save archive; metadata in its extra file hpbench.json; pure tensor operations only "
                   "unless --trust-checkpoint",
    "state_dict": "a bare state dict with --arch, in hpbench's keys or the authors' (HopeNet's snapshots, "
                  "6DRepNet's training and deploy files, KD's resnet50.pth)",
    "keras": "Keras weights (.h5) of a ported family, read with h5py: --arch whenet",
    "onnx": "*.onnx through onnxruntime (extra [onnx]); preprocessing in FILE.onnx.json",
}


@dataclass
class LoadedModel:
    predict: Callable[[torch.Tensor], torch.Tensor]  # images → values in ``convention``
    module: torch.nn.Module
    kind: str  # a key of FORMATS
    arch: str
    convention: str
    preprocessing: Preprocessing | None  # None: the protocol's input size and ImageNet normalisation
    crop: str | None  # None: the protocol's crop rule
    sha256: str
    path: Path
    config: dict
    resize_kernel: str = "opencv-linear"  # the family's, used with the protocol's input size
    fixed_input_size: int | None = None  # a graph that takes one input size only (ONNX)
    convention_overridden: bool = False  # --convention contradicted what the file records (--override-convention)

    def preprocessing_for(self, input_size: int, own: bool = False) -> Preprocessing:
        """The model's normalisation, colour order and resize kernel (ImageNet's and the family's where
        the file records none) at the protocol's ``input_size``, or with ``own`` at the size the model
        records."""
        base = self.preprocessing or Preprocessing(input_size=input_size, resize_kernel=self.resize_kernel)
        size = base.input_size if own else input_size
        if self.fixed_input_size is not None and size != self.fixed_input_size:
            raise HpbenchError(f"{self.path} takes {self.fixed_input_size}-px inputs only, the protocol's are "
                               f"{input_size} px: pass --model-preprocessing to use the model's size (recorded, and "
                               "shown apart on the leaderboard)")
        return replace(base, input_size=size)

    @property
    def task(self) -> str:
        """What it predicts (hpbench.tasks): its module's, or head pose for a file that names none."""
        return getattr(self.module, "task", DEFAULT_TASK)

    @property
    def parameters_m(self) -> float:
        count = getattr(self.module, "parameter_count", None)  # ONNX: the graph's initializers
        return (count if count is not None else sum(p.numel() for p in self.module.parameters())) / 1e6

    @property
    def memory_mb(self) -> float:
        """The weights' memory footprint in MB (2^20 bytes): parameters and buffers at their dtype's size
        (an ONNX graph's initializers counted as float32)."""
        count = getattr(self.module, "parameter_count", None)
        if count is not None:
            return count * 4 / 2**20
        tensors = [*self.module.parameters(), *self.module.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def _load_torchscript(path: Path, convention: str | None, device: str, trust: bool,
                      forward_timeout: float) -> LoadedModel:
    module, text = load_torchscript(path, device, trust)
    source = f"{path} ({METADATA_FILE})"
    metadata = checked_metadata(json_object(text or "{}", source), MODEL_METADATA, source)
    predict = module if trust else watched(module, path, forward_timeout)
    return _from_metadata(predict, module, "torchscript", metadata, metadata.get("input_size"), convention, path)


def _from_metadata(predict, module, kind: str, metadata: dict, input_size: int | None, convention: str | None,
                   path: Path) -> LoadedModel:
    """A TorchScript or ONNX model: preprocessing from its (checked) metadata when it names an input size."""
    kernel = metadata.get("resize_kernel", "opencv-linear")
    preprocessing = None
    if input_size is not None:
        preprocessing = Preprocessing(int(input_size), tuple(metadata.get("mean", Preprocessing.mean)),
                                      tuple(metadata.get("std", Preprocessing.std)), metadata.get("colour", "rgb"),
                                      kernel)
    return LoadedModel(predict=predict, module=module, kind=kind, arch=metadata.get("arch", kind),
                       convention=convention or metadata.get("convention", "hpbench"), preprocessing=preprocessing,
                       crop=metadata.get("crop"), sha256=file_sha256(path), path=path, config=metadata,
                       resize_kernel=kernel)


def _load_onnx(path: Path, convention: str | None, device: str) -> LoadedModel:
    from hpbench.models.onnx_model import ONNX_KEYS, open_onnx

    model, metadata, graph_size, files = open_onnx(path, device=device)
    size = metadata.get("input_size", graph_size)
    if graph_size is not None and size != graph_size:
        raise HpbenchError(f"{path}: its metadata says input_size {size}, its graph takes {graph_size}")
    metadata = {key: value for key, value in metadata.items() if key not in ONNX_KEYS}
    loaded = _from_metadata(model.predict, model, "onnx", metadata, size, convention, path)
    loaded.fixed_input_size = graph_size
    loaded.sha256 = files_sha256(files)  # the weights may live beside the graph: they are the model too
    return loaded


def _load_keras(path: Path, arch: str | None, convention: str | None, device: str) -> LoadedModel:
    """A Keras weights file (HDF5, read with h5py: no code runs) for a family that ports its network."""
    if arch is None:
        raise HpbenchError(f"{path} is a Keras weights file: name its architecture with --arch (e.g. whenet)")
    model = create_model(arch)
    if not hasattr(model, "load_keras_weights"):
        raise HpbenchError(f"{path} is a Keras weights file and {arch} does not read those (whenet does)")
    try:
        model.load_keras_weights(path)
    except (KeyError, OSError, ValueError, TypeError) as err:  # HDF5, but not Keras weights (a prepared file?)
        raise HpbenchError(f"{path}: not a Keras weights file of {arch} ({type(err).__name__}: {err})") from None
    model = model.to(device).eval()
    return LoadedModel(predict=model.predict, module=model, kind="keras", arch=arch,
                       convention=convention or model.convention, preprocessing=None, crop=None,
                       sha256=file_sha256(path), path=path, config={}, resize_kernel=model.preprocessing.resize_kernel)


def _is_state_dict(content) -> bool:
    return isinstance(content, dict) and bool(content) and all(isinstance(v, torch.Tensor) for v in content.values())


def _into(model: torch.nn.Module, state: dict, path: Path, arch: str) -> None:
    try:
        missing, unexpected = model.load_state_dict(model.adopt_state_dict(state), strict=False)
    except RuntimeError as err:  # shapes that differ (another depth, another bin count)
        detail = str(err).split("\n\t")[1:2] or [str(err)]
        raise HpbenchError(f"{path}: its weights do not fit {arch} ({detail[0][:200]}). Check --arch.") from None
    if missing or unexpected:
        raise HpbenchError(
            f"{path}: its weights do not fit {arch}: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}). Check --arch."
        )


def load_model(model, arch: str | None = None, convention: str | None = None, trust: bool = False,
               device: str = "cpu", override_convention: bool = False,
               forward_timeout: float = FORWARD_TIMEOUT, preprocessing=None) -> LoadedModel:
    """The model to score: a file (every kind of FORMATS), a torch module or a plain callable
    (hpbench.models.objects, with ``preprocessing`` if it declares one), or a LoadedModel as it is.
    ``convention`` names the convention of its outputs where the model records none; one that
    contradicts what a file (or its family) records is an error unless ``override_convention``."""
    if isinstance(model, LoadedModel):
        return model
    if convention is not None:
        get_convention(convention)  # fail early on an unknown name
    if not isinstance(model, (str, Path)):
        return _load_object(model, convention, preprocessing, device)
    path = Path(model)
    if not path.is_file():
        raise HpbenchError(f"{path}: no such model file")
    loaded = _load(path, arch, convention, trust, device, forward_timeout)
    own = loaded.config.get("convention") if loaded.kind in ("torchscript", "onnx") else loaded.module.convention
    loaded.convention_overridden = convention is not None and bool(own) and convention != own
    if loaded.convention_overridden and not override_convention:
        raise HpbenchError(f"{path} records the {own} convention ({get_convention(own).description}); "
                           f"--convention {convention} contradicts it. Pass --override-convention to score it "
                           "that way anyway (recorded)")
    return loaded


def _load_object(model, convention: str | None, preprocessing, device: str) -> LoadedModel:
    """A module or callable: run as it is, its outputs read in ``convention`` (or its own, or hpbench's)."""
    module, kind, sha256 = object_identity(model)
    name, arch = describe_object(model)
    module = module.to(device).eval()
    own = getattr(module, "preprocessing", None)
    return LoadedModel(predict=getattr(module, "predict", module), module=module, kind=kind, arch=arch,
                       convention=convention or getattr(module, "convention", None) or "hpbench",
                       preprocessing=checked_preprocessing(preprocessing) or (own if isinstance(own, Preprocessing)
                                                                             else None),
                       crop=None, sha256=sha256, path=Path(name), config={},
                       resize_kernel=getattr(module, "resize_kernel", "opencv-linear"))


def _load(path: Path, arch: str | None, convention: str | None, trust: bool, device: str,
          forward_timeout: float) -> LoadedModel:
    if path.suffix.lower() == ".onnx" or arch == "onnx":
        return _load_onnx(path, convention, device)
    if is_torchscript(path):
        return _load_torchscript(path, convention, device, trust, forward_timeout)
    with open(path, "rb") as handle:
        keras = handle.read(8) == b"\x89HDF\r\n\x1a\n"  # HDF5's signature
    if keras:
        return _load_keras(path, arch, convention, device)
    content = read_torch_file(path, trust)
    crop = None
    if is_checkpoint(content):
        checkpoint = Checkpoint.from_dict(content, path)
        arch = arch or checkpoint.arch
        config = dict(checkpoint.config)
        kind, state, crop = "checkpoint", checkpoint.state_dict, checkpoint.crop
    elif _is_state_dict(content) or (isinstance(content, dict) and _is_state_dict(content.get("model_state_dict"))):
        if arch is None:
            raise HpbenchError(f"{path} is a bare state dict: name its architecture with --arch (see hpbench models)")
        # a training checkpoint {"model_state_dict": …, "epoch": …} (6DRepNet's train.py) holds one
        config, kind, state = {}, "state_dict", content.get("model_state_dict", content)
    else:
        raise HpbenchError(f"{path}: neither TorchScript, an hpbench checkpoint nor a state dict")
    config.pop("pretrained", None)  # the weights come from the file
    try:
        model = create_model(arch, **config)
    except (TypeError, ValueError) as err:  # a config the file made up: unknown keys, values of other types
        raise HpbenchError(f"{path}: its config does not build {arch} ({err})") from None
    _into(model, state, path, arch)
    model = model.to(device).eval()
    preprocessing = model.preprocessing if kind == "checkpoint" else None
    return LoadedModel(predict=model.predict, module=model, kind=kind, arch=arch,
                       convention=convention or model.convention, preprocessing=preprocessing,
                       crop=crop, sha256=file_sha256(path), path=path, config=config,
                       resize_kernel=model.preprocessing.resize_kernel)
