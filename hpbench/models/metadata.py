"""What a TorchScript or ONNX model file's metadata may say (its preprocessing, crop rule and pose
convention), checked strictly: an unknown key or a bad value is a one-line error naming the file."""

from __future__ import annotations

from hpbench.data.crops import CROP_RULES, RESIZE_KERNELS
from hpbench.errors import HpbenchError
from hpbench.jsonfiles import parse_json
from hpbench.paths import name_problem
from hpbench.pose import get_convention
from hpbench.registry import check_known_keys

MODEL_METADATA = ("arch", "input_size", "mean", "std", "colour", "resize_kernel", "crop", "convention")


def json_object(text: str, source: str) -> dict:
    value = parse_json(text, source)
    if not isinstance(value, dict):
        raise HpbenchError(f"{source}: must hold a JSON object, not {type(value).__name__}")
    return value


def checked_metadata(metadata: dict, known: tuple[str, ...], source: str) -> dict:
    """``metadata`` after checking every key is known and every value valid (one-line errors)."""
    check_known_keys(metadata, known, source)
    problems = []
    if "arch" in metadata and name_problem(metadata["arch"]):
        problems.append(f"arch {str(metadata['arch'])[:80]!r} is {name_problem(metadata['arch'])} (it names records)")
    size = metadata.get("input_size")
    if size is not None and not (isinstance(size, int) and not isinstance(size, bool) and size > 0):
        problems.append(f"input_size must be a positive integer, not {size!r}")
    for key in ("mean", "std"):
        value = metadata.get(key)
        if value is not None and not (isinstance(value, list) and len(value) == 3
                                      and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                                      and (key == "mean" or all(v > 0 for v in value))):
            problems.append(f"{key} must be a list of three numbers{' above 0' if key == 'std' else ''}, not {value!r}")
    if metadata.get("colour", "rgb") not in ("rgb", "bgr"):
        problems.append(f"colour must be rgb or bgr, not {metadata['colour']!r}")
    if metadata.get("resize_kernel", RESIZE_KERNELS[0]) not in RESIZE_KERNELS:
        problems.append(f"resize_kernel must be one of {', '.join(RESIZE_KERNELS)}, not {metadata['resize_kernel']!r}")
    if metadata.get("crop") is not None and metadata["crop"] not in CROP_RULES.names():
        problems.append(f"crop must be a crop rule ({', '.join(CROP_RULES.names())}), not {metadata['crop']!r}")
    if problems:
        raise HpbenchError(f"{source}: " + "; ".join(problems))
    if "convention" in metadata:
        get_convention(metadata["convention"])
    return metadata
