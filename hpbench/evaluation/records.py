"""The result record: one typed schema that ``hpbench evaluate`` writes and the leaderboard reads.

A record carries what a number needs to be traced: the protocol's name, version and the sha256 of
each selected key list; the model file's sha256, architecture and convention; the evaluation
settings; hpbench's version and commit, torch's version; the date; per test dataset the metrics and
the counts (in the file, selected, inside the filter, evaluated, scored on a fallback box). JSON with
sorted keys; reading validates it and names the file and every problem.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from hpbench.errors import HpbenchError
from hpbench.io import write_text_atomic

RECORD_FORMAT = 1
PRIMARY_BODY_METRICS = ("pck@0.2", "pckh@0.5")  # what a body-pose record must hold one of


@dataclass
class ProtocolRef:
    name: str
    version: int
    keys_sha256: dict[str, str]  # dataset → sha256 of its selected keys
    split: str = "test"


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
        return _plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def write(self, path: str | Path) -> Path:
        return write_text_atomic(path, self.to_json())

    @property
    def leaderboard_name(self) -> str:
        """The file name under ``leaderboards/results/``: protocol, architecture, weights."""
        return f"{self.protocol.name}__{self.model.arch}__{self.model.sha256[:12]}.json"

    @property
    def default_path(self) -> Path:
        """``results/PROTOCOL_MODEL_SHA.json``: the weights' hash keeps the records of two files called
        model.pt apart."""
        return Path("results") / f"{self.protocol.name}_{Path(self.model.file).stem}_{self.model.sha256[:8]}.json"

    @classmethod
    def from_dict(cls, content: Any, path: str | Path) -> "ResultRecord":
        problems: list[str] = []
        record = _build(cls, content, "", problems)
        if not problems:
            for dataset, result in record.results.items():
                if not any(isinstance(result.metrics.get(k), (int, float)) for k in ("mae", *PRIMARY_BODY_METRICS)):
                    problems.append(f"results.{dataset}: no numeric metrics.mae (nor a body-pose pck or pckh)")
                if not isinstance(result.counts.get("evaluated"), int):
                    problems.append(f"results.{dataset}: no integer counts.evaluated")
            if not record.results:
                problems.append("no 'results'")
            problems += [f"no 'environment.{k}'" for k in ("hpbench_version", "code_commit")
                         if k not in record.environment]
        if problems:
            raise HpbenchError(f"{path}: malformed result record: {'; '.join(problems)}")
        return record

    @classmethod
    def load(cls, path: str | Path) -> "ResultRecord":
        try:
            content = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise HpbenchError(f"{path}: not readable JSON ({err})") from None
        return cls.from_dict(content, path)


def _plain(value):
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _build(cls, content, where: str, problems: list[str]):
    """``cls`` from a JSON object (nested dataclasses and dicts of them by the type hints), or None
    with each missing or unknown key noted in ``problems``."""
    prefix = f"{where}." if where else ""
    if not isinstance(content, dict):
        problems.append(f"'{where}' is not a JSON object" if where else "not a JSON object")
        return None
    known = {f.name for f in fields(cls)}
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    found = [f"no '{prefix}{name}'" for name in required if name not in content]
    found += [f"unknown key '{prefix}{name}'" for name in content if name not in known]
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
        values[name] = value
    return cls(**values) if len(problems) == before else None
