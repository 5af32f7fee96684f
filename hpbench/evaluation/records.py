"""The result record: one typed schema that ``hpbench evaluate`` writes and the leaderboard reads.

A record carries what a number needs to be traced: the protocol's name, version and the sha256 of
each selected key list; the model file's sha256, architecture and convention; the evaluation
settings; hpbench's version and commit, torch's version; the date; per test dataset the metrics and
the counts (in the file, selected, inside the filter, evaluated, scored on a fallback box). JSON with
sorted keys; reading validates it and names the file and every problem.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from hpbench.errors import HpbenchError
from hpbench.io import write_text_atomic
from hpbench.jsonfiles import parse_json
from hpbench.paths import name_problem, output_path, safe_word
from hpbench.schema import SHA256, TYPE_WORDS

RECORD_FORMAT = 2  # 2: protocol.sha256, the protocol identified by its content
PRIMARY_BODY_METRICS = ("pck@0.2", "pckh@0.5")  # what a body-pose record must hold one of


@dataclass
class ProtocolRef:
    name: str
    version: int
    keys_sha256: dict[str, str]  # dataset → sha256 of its selected keys
    split: str = "test"
    sha256: str = ""  # the protocol's content (hpbench.protocols.Protocol.sha256); "" in records of format 1


@dataclass
class ModelInfo:
    file: str
    sha256: str
    arch: str
    convention: str
    kind: str = ""  # a key of hpbench.models.loading.FORMATS
    parameters_m: float | None = None
    gflops: float | None = None
    memory_mb: float | None = None  # the weights' footprint (parameters and buffers), 2^20 bytes per MB


@dataclass
class EvaluationSettings:
    crop: str
    input_size: int
    colour: str = "rgb"
    boxes: str = "protocol"  # "protocol", "reference" or a box source name
    device: str = "cpu"
    batch_size: int = 64
    ensemble: dict | None = None  # pad, stride, crops
    resize_kernel: str = "opencv-linear"  # hpbench.data.crops.RESIZE_KERNELS
    preprocessing: str = "protocol"  # crop rule and input size: the protocol's, or (--model-preprocessing) the model's
    convention_overridden: bool = False  # --override-convention: the outputs read otherwise than the file records
    decode: str | None = None  # body pose: belief maps to joints by "parabola" (sub-cell) or "argmax"; None for head pose


@dataclass
class DatasetResult:
    metrics: dict[str, float]
    counts: dict[str, int]  # in file, selected, inside the filter, evaluated, fallback
    box_source: str = ""
    keys_sha256: str = ""
    seconds: dict[str, float] | None = None  # forward, total
    content_sha256: str = ""  # of the prepared file scored (checked against its digests first)
    by_yaw: dict[str, dict] | None = None  # |true yaw| range → {"mae", "n"} (hpbench.evaluation.analysis)
    mean_predictor_mae: float | None = None  # predicting the training split's mean pose
    mean_predictor_scores: dict[str, float] | None = None  # body pose: the metrics of the training crops' mean joints
    per_joint: dict[str, dict] | None = None  # body pose: metric → joint → accuracy (None where none counted)


@dataclass
class ResultRecord:
    protocol: ProtocolRef
    model: ModelInfo
    evaluation: EvaluationSettings
    environment: dict[str, str]  # hpbench_version, code_commit, torch_version, python_version, platform
    date: str
    results: dict[str, DatasetResult]
    record_format: int = RECORD_FORMAT

    def to_dict(self) -> dict:
        content = _plain(self)
        if self.record_format < 2:  # an older record is written back as it was read
            content["protocol"].pop("sha256")
        return content

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def write(self, path: str | Path) -> Path:
        return write_text_atomic(path, self.to_json())

    def leaderboard_path(self, folder: str | Path) -> Path:
        """Its file under the leaderboard's ``folder``: protocol, architecture, weights."""
        return output_path(folder, f"{self.protocol.name}__{self.model.arch}__{self.model.sha256[:12]}.json")

    @property
    def default_path(self) -> Path:
        """``results/PROTOCOL_MODEL_SHA.json``: the weights' hash keeps the records of two files called
        model.pt apart."""
        stem = safe_word(Path(self.model.file).stem)
        return output_path("results", f"{self.protocol.name}_{stem}_{self.model.sha256[:8]}.json")

    @classmethod
    def from_dict(cls, content: Any, path: str | Path) -> "ResultRecord":
        """A record read from a file: every key known, every value of its declared type, every number
        finite and in its range, every name that may reach a file name one safe word; else one error
        naming the file and each problem."""
        problems: list[str] = []
        record = _build(cls, content, "", problems)
        if not problems:
            problems += _value_problems(record)
        if problems:
            shown = "; ".join(problems[:6]) + (f"; … {len(problems) - 6} more" if len(problems) > 6 else "")
            raise HpbenchError(f"{path}: malformed result record: {shown}")
        return record

    @classmethod
    def load(cls, path: str | Path) -> "ResultRecord":
        try:
            text = Path(path).read_bytes()
        except OSError as err:
            raise HpbenchError(f"{path}: not readable ({err.strerror or err})") from None
        return cls.from_dict(parse_json(text, str(path)), path)


def _plain(value):
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _build(cls, content, where: str, problems: list[str]):
    """``cls`` from a JSON object (nested dataclasses and dicts of them by the type hints), or None
    with each missing or unknown key and each value of another type noted in ``problems``."""
    prefix = f"{where}." if where else ""
    if not isinstance(content, dict):
        problems.append(f"'{where}' is not a JSON object" if where else "not a JSON object")
        return None
    known = {f.name for f in fields(cls)}
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    found = [f"no '{prefix}{name}'" for name in required if name not in content]
    found += [f"unknown key '{prefix}{str(name)[:40]}'" for name in content if name not in known]
    problems += found
    if found:
        return None
    hints, values, before = get_type_hints(cls), {}, len(problems)
    for name, value in content.items():
        hint = hints[name]
        if is_dataclass(hint):
            value = _build(hint, value, prefix + name, problems)
        elif get_origin(hint) is dict and is_dataclass(get_args(hint)[1]):
            if not isinstance(value, dict):
                problems.append(f"'{prefix}{name}' is not a JSON object")
                continue
            value = {k: _build(get_args(hint)[1], v, f"{prefix}{name}.{k}", problems) for k, v in value.items()}
        else:
            problems += _type_problems(value, hint, prefix + name)
        values[name] = value
    return cls(**values) if len(problems) == before else None


def _type_problems(value, hint, where: str) -> list[str]:
    """``value`` against a type hint of the record (str, int, float, bool, dict[str, X], X | None);
    a float may be NaN (a metric of an angle the dataset lacks), never infinite."""
    options = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    if value is None:
        return [] if type(None) in options else [f"'{where}' is null"]
    hint = next(option for option in options if option is not type(None))
    origin = get_origin(hint)
    if origin is dict:
        if not isinstance(value, dict):
            return [f"'{where}' is not a JSON object"]
        inner = get_args(hint)[1] if get_args(hint) else Any
        return [p for key, item in value.items() for p in _type_problems(item, inner, f"{where}.{key}")]
    if hint is Any:
        return []
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"'{where}' is not a number"]
        return [f"'{where}' is infinite"] if math.isinf(value) else []
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        return [f"'{where}' is not {TYPE_WORDS.get(hint, hint.__name__)}"]
    return []


def _value_problems(record: "ResultRecord") -> list[str]:
    """The rules beyond types: names that reach file names, hashes, ranges and what a result must hold."""
    problems = [f"'{where}' {value[:60]!r} is {name_problem(value)}" for where, value in
                (("protocol.name", record.protocol.name), ("model.arch", record.model.arch)) if name_problem(value)]
    hashes = [("model.sha256", record.model.sha256), *((f"protocol.keys_sha256.{d}", h)
                                                       for d, h in record.protocol.keys_sha256.items())]
    if record.record_format >= 2 or record.protocol.sha256:
        hashes.append(("protocol.sha256", record.protocol.sha256))
    problems += [f"'{where}' is not a sha256 (64 hexadecimal digits)" for where, value in hashes
                 if not SHA256.fullmatch(str(value))]
    if not 1 <= record.record_format <= RECORD_FORMAT:
        problems.append(f"'record_format' {record.record_format}: this hpbench reads formats 1 to {RECORD_FORMAT}")
    if record.protocol.version < 0:
        problems.append("'protocol.version' is negative")
    if record.evaluation.input_size < 1 or record.evaluation.batch_size < 1:
        problems.append("'evaluation.input_size' and 'evaluation.batch_size' must be positive")
    problems += [f"'model.{name}' is negative" for name in ("parameters_m", "gflops", "memory_mb")
                 if (getattr(record.model, name) or 0) < 0]
    if not record.results:
        problems.append("no 'results'")
    for dataset, result in record.results.items():
        where = f"results.{dataset}"
        primary = [k for k in ("mae", *PRIMARY_BODY_METRICS) if isinstance(result.metrics.get(k), (int, float))]
        if not primary:
            problems.append(f"{where}: no numeric metrics.mae (nor a body-pose pck or pckh)")
        problems += [f"'{where}.metrics.{k}' is NaN: a ranked metric must be finite" for k in primary
                     if math.isnan(result.metrics[k])]
        problems += [f"'{where}.metrics.{name}' = {value} is outside [0, {'1' if _is_share(name) else '∞'})"
                     for name, value in result.metrics.items()
                     if isinstance(value, (int, float)) and (value < 0 or (_is_share(name) and value > 1))]
        if not isinstance(result.counts.get("evaluated"), int):
            problems.append(f"{where}: no integer counts.evaluated")
        problems += [f"'{where}.counts.{name}' is not a count (a whole number ≥ 0)" for name, value in result.counts.items()
                     if isinstance(value, bool) or not isinstance(value, int) or value < 0]
        if result.keys_sha256 and not SHA256.fullmatch(result.keys_sha256):
            problems.append(f"'{where}.keys_sha256' is not a sha256")
    problems += [f"no 'environment.{k}'" for k in ("hpbench_version", "code_commit") if k not in record.environment]
    return problems


def _is_share(metric: str) -> bool:
    """PCK-like metrics are shares of joints, in [0, 1]; the others are errors or losses, ≥ 0."""
    return metric.startswith("pck")
