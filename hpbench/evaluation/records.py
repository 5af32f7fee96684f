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
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from hpbench.errors import HpbenchError
from hpbench.io import write_text_atomic
from hpbench.jsonfiles import parse_json
from hpbench.metrics import METRICS, parse_metric
from hpbench.paths import name_problem, output_path, safe_word
from hpbench.schema import SHA256, TYPE_WORDS
from hpbench.tasks import TASKS

RECORD_FORMAT = 3  # docs/RECORDS.md: what each format added
PREDICTIONS = "predictions"  # the model kind of a scored predictions file (hpbench.evaluation.score)
LEGACY_PRIMARY = ("mae", "pck@0.2", "pckh@0.5")  # formats 1 and 2: a result had to hold one of these


@dataclass
class ProtocolRef:
    name: str
    version: int
    keys_sha256: dict[str, str]  # dataset → sha256 of its selected keys
    split: str = "test"
    sha256: str = ""  # the protocol's content (hpbench.protocols.Protocol.sha256); "" in records of format 1
    task: str = ""  # hpbench.tasks (format 3; inferred for older records)
    metrics: list[str] = field(default_factory=list)  # the protocol's metrics list, the first ranks (format 3)


@dataclass
class ModelInfo:
    file: str
    sha256: str
    arch: str
    convention: str
    kind: str = ""  # a key of hpbench.models.loading.FORMATS, "module", "callable" or "predictions" (a file scored)
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
    changes: dict | None = None  # controlled changes of the inputs (hpbench.tasks.EvaluationOptions.changes)


@dataclass
class DatasetResult:
    metrics: dict[str, float]
    counts: dict[str, int]  # in file, selected, inside the filter, evaluated, fallback
    box_source: str = ""
    keys_sha256: str = ""
    seconds: dict[str, float] | None = None  # forward, total
    content_sha256: str = ""  # of the prepared file scored (checked against its digests first)
    by_yaw: dict[str, dict] | None = None  # |true yaw| range → {"mae", "n"} (hpbench.evaluation.analysis)
    mean_predictor_scores: dict[str, float] | None = None  # the metrics of predicting the training mean pose
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
    sensitivity: dict | None = None  # hpbench.evaluation.sensitivity: the metric under controlled changes
    speed: dict | None = None  # hpbench.models.speed: latency, throughput, memory, measured (evaluate --bench)

    def __post_init__(self):
        self.read_as: dict | None = None  # an older format's content, as read: written back unchanged

    def to_dict(self) -> dict:
        return self.read_as if self.read_as is not None else _plain(self)

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
        read_as = content
        version = content.get("record_format", 1) if isinstance(content, dict) else RECORD_FORMAT
        if isinstance(version, int) and not isinstance(version, bool) and version > RECORD_FORMAT:
            raise HpbenchError(f"{path}: written by a newer hpbench (record format {version}; this one reads formats "
                               f"1 to {RECORD_FORMAT}): upgrade hpbench")
        if isinstance(version, int) and 1 <= version < RECORD_FORMAT and isinstance(content, dict):
            content = _upgraded(content)
        problems: list[str] = []
        record = _build(cls, content, "", problems)
        if not problems:
            problems += _value_problems(record)
        if problems:
            shown = "; ".join(problems[:6]) + (f"; … {len(problems) - 6} more" if len(problems) > 6 else "")
            raise HpbenchError(f"{path}: malformed result record: {shown}")
        if record.record_format < RECORD_FORMAT:
            record.read_as = read_as
        return record

    @classmethod
    def load(cls, path: str | Path) -> "ResultRecord":
        try:
            text = Path(path).read_bytes()
        except OSError as err:
            raise HpbenchError(f"{path}: not readable ({err.strerror or err})") from None
        return cls.from_dict(parse_json(text, str(path)), path)


def _upgraded(content: dict) -> dict:
    """A record of format 1 or 2 as format 3 reads it: the task and metrics its protocol scored (format
    2 required one of LEGACY_PRIMARY; the task is the one that metric belongs to), the training mean's
    MAE as its ``mean_predictor_scores``. Not a dict where it has not the shape to upgrade: validation
    then names what is wrong."""
    protocol, results = content.get("protocol"), content.get("results")
    if not isinstance(protocol, dict) or not isinstance(results, dict) or not all(
            isinstance(r, dict) and isinstance(r.get("metrics", {}), dict) for r in results.values()):
        return content
    found = [k for r in results.values() for k in r.get("metrics", {}) if k in LEGACY_PRIMARY]
    metrics = [min(found, key=LEGACY_PRIMARY.index)] if found else []
    upgraded_results = {}
    for dataset, result in results.items():
        result = dict(result)
        mae = result.pop("mean_predictor_mae", None)
        if mae is not None and result.get("mean_predictor_scores") is None:
            result["mean_predictor_scores"] = {"mae": mae}
        upgraded_results[dataset] = result
    task = parse_metric(metrics[0])[0].task if metrics else ""
    return {**content, "record_format": content.get("record_format", 1),
            "protocol": {**protocol, "task": task, "metrics": metrics}, "results": upgraded_results}


def protocol_ref(protocol, results: dict) -> ProtocolRef:
    """What a record says of its protocol: its content, task, metrics and the key lists scored."""
    return ProtocolRef(protocol.name, protocol.version, {d: r.keys_sha256 for d, r in results.items()},
                       protocol.test_split, protocol.sha256, protocol.task, list(protocol.metrics))


def record_head(protocol, results: dict, model, gflops: float | None) -> tuple[ProtocolRef, ModelInfo]:
    """What a record says of its protocol (``protocol_ref``) and of its model (hpbench.models.loading.
    LoadedModel: hash, architecture, convention, kind, size)."""
    return (protocol_ref(protocol, results),
            ModelInfo(model.path.name, model.sha256, model.arch, model.convention, model.kind,
                      round(model.parameters_m, 3), gflops, round(model.memory_mb, 3)))


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
    if origin is list:
        if not isinstance(value, list):
            return [f"'{where}' is not a JSON list"]
        return [p for i, item in enumerate(value) for p in _type_problems(item, get_args(hint)[0], f"{where}[{i}]")]
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
    metrics, metric_problems = _metrics_of(record.protocol)
    problems += metric_problems
    for dataset, result in record.results.items():
        where = f"results.{dataset}"
        if metrics:
            primary = metrics[0].columns(record.protocol.metrics[0])[-1].key
            value = result.metrics.get(primary)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{where}: no numeric metrics.{primary} (the protocol's first metric)")
            elif math.isnan(value):
                problems.append(f"'{where}.metrics.{primary}' is NaN: a ranked metric must be finite")
        upper = {column.key: metric.upper for metric, text in zip(metrics, record.protocol.metrics)
                 for column in metric.columns(text)}
        problems += [f"'{where}.metrics.{name}' = {value} is outside [0, {upper.get(name, math.inf):g}]"
                     for name, value in result.metrics.items()
                     if isinstance(value, (int, float)) and not 0 <= value <= upper.get(name, math.inf)]
        if not isinstance(result.counts.get("evaluated"), int):
            problems.append(f"{where}: no integer counts.evaluated")
        problems += [f"'{where}.counts.{name}' is not a count (a whole number ≥ 0)" for name, value in result.counts.items()
                     if isinstance(value, bool) or not isinstance(value, int) or value < 0]
        if result.keys_sha256 and not SHA256.fullmatch(result.keys_sha256):
            problems.append(f"'{where}.keys_sha256' is not a sha256")
    problems += [f"no 'environment.{k}'" for k in ("hpbench_version", "code_commit") if k not in record.environment]
    problems += _spread_problems(record) + _speed_problems(record)
    return problems


def _spread_problems(record: "ResultRecord") -> list[str]:
    """A sensitivity section's spreads reach the leaderboard: per test set and group two finite numbers."""
    spread = (record.sensitivity or {}).get("spread", {})
    if not isinstance(spread, dict):
        return ["'sensitivity.spread' is not a JSON object"]
    problems = []
    for dataset, groups in spread.items():
        if dataset not in record.results or not isinstance(groups, dict):
            problems.append(f"'sensitivity.spread.{str(dataset)[:40]}' is not a test set's spreads")
            continue
        problems += [f"'sensitivity.spread.{dataset}.{str(group)[:40]}' is not [low, high] finite numbers"
                     for group, pair in groups.items()
                     if not (isinstance(pair, list) and len(pair) == 2 and all(
                         isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
                             and pair[0] <= pair[1])]
    return problems


def _speed_problems(record: "ResultRecord") -> list[str]:
    """A speed section's runs reach the leaderboard: each a list entry with finite, non-negative times."""
    runs = (record.speed or {}).get("runs", [])
    if not isinstance(runs, list):
        return ["'speed.runs' is not a JSON list"]
    problems = []
    for number, run in enumerate(runs):
        if not isinstance(run, dict) or not all(
                isinstance(run.get(k), (int, float)) and not isinstance(run.get(k), bool) and math.isfinite(run[k])
                and run[k] >= 0 for k in ("median_ms", "p90_ms", "images_per_s", "batch")):
            problems.append(f"'speed.runs[{number}]' has no finite, non-negative median_ms, p90_ms, images_per_s, batch")
    return problems


def _metrics_of(protocol: ProtocolRef) -> tuple[list, list[str]]:
    """The registered metrics a record's protocol names (hpbench.metrics), each of the record's task;
    or the problems that keep them from being read."""
    problems = []
    if protocol.task not in TASKS:
        problems.append(f"'protocol.task' {protocol.task[:40]!r} is not a task ({', '.join(TASKS.names())})")
    if not protocol.metrics:
        problems.append("'protocol.metrics' names no metric")
    metrics = []
    for text in protocol.metrics:
        try:
            metric, _ = parse_metric(text)
        except HpbenchError:
            problems.append(f"'protocol.metrics' {text[:40]!r} is not a metric ({', '.join(METRICS.names())})")
            continue
        if metric.task != protocol.task:
            problems.append(f"'protocol.metrics' {text!r} scores {metric.task}, not {protocol.task[:40]}")
        metrics.append(metric)
    return (metrics if not problems else []), problems
