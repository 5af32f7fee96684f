"""Evaluation protocols as versioned data: loading ``protocols/*.yaml`` and selecting samples.

A protocol names, per split, the prepared datasets and a selection rule for each, the inclusive ±99°
filter, the box source and its fallback, the crop rule, the input size, the metrics and how a test
sample without a detected face is counted. ``select`` turns it into sample indices of the prepared
files, with the counts of every step and the sha256 of each selected key list, so that a split can
be frozen and compared across machines. See docs/PROTOCOLS.md.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import inspect
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hpbench.converters import CONVERTERS
from hpbench.data.crops import CROP_RULES
from hpbench.errors import HpbenchError
from hpbench.format import HPFile, check_before_use, open_prepared
from hpbench.metrics import Column, parse_metric, primary_column
from hpbench.paths import checked_name, path_problem, safe_word
from hpbench.pose import full_range_yaw, get_convention, inside_range
from hpbench.registry import Registry, check_known_keys
from hpbench.resources import bundled_dir, bundled_yaml
from hpbench.schema import SHA256, Rule, check_values
from hpbench.tasks import TASKS
from hpbench.yamlfiles import read_yaml

log = logging.getLogger(__name__)
SCHEMA_KEYS = {"name", "title", "origin", "source", "version", "changelog", "task", "filter", "crop", "input_size",
               "metrics", "missing_face", "splits", "published_counts", "notes", "score_convention", "synthetic",
               "frozen_keys_sha256"}
ENTRY_KEYS = {"dataset", "select", "boxes", "reference", "filter", "file", "labels"}
_TEXT, _OPTIONAL_TEXT, _OPTIONAL_MAPPING = Rule((str,)), Rule((str, type(None))), Rule((dict, type(None)))
PROTOCOL_RULES = {
    "name": _TEXT, "title": _TEXT, "origin": _TEXT, "source": _OPTIONAL_TEXT, "notes": _OPTIONAL_TEXT,
    "version": Rule((int,), low=1), "changelog": Rule((list,)), "task": _TEXT, "filter": _OPTIONAL_MAPPING,
    "crop": _TEXT, "input_size": Rule((int,), low=8, high=4096), "metrics": Rule((list,)), "missing_face": _TEXT,
    "splits": Rule((dict,)), "published_counts": _OPTIONAL_MAPPING, "score_convention": _TEXT,
    "synthetic": Rule((bool,)), "frozen_keys_sha256": _OPTIONAL_MAPPING,
}
CHANGE_RULES = {"version": Rule((int,), low=1), "date": Rule((str, datetime.date)), "change": Rule((str,))}
ENTRY_RULES = {"dataset": _TEXT, "select": Rule((str, dict)), "boxes": _OPTIONAL_TEXT, "reference": _OPTIONAL_TEXT,
               "filter": Rule((bool,)), "file": _OPTIONAL_TEXT, "labels": _OPTIONAL_TEXT}
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitEntry:
    """One dataset in one split: which samples, which boxes."""

    dataset: str
    select: dict[str, Any]
    boxes: str | None = None  # preferred box source (e.g. "yolo"); None for body pose
    reference: str | None = None  # the box used where the preferred one is missing (default: the dataset's own)
    filter: bool = True  # apply the protocol's angle filter
    file: str | None = None  # the prepared file, relative to the data folder (default: <dataset>.h5)
    labels: str | None = None  # a label source of the file (labels/<name>) instead of the dataset's own poses


@dataclass(frozen=True)
class Protocol:
    name: str
    title: str
    origin: str  # "paper" or "hpbench"
    source: str
    version: int
    changelog: tuple[dict, ...]
    task: str
    filter_limit: float | None
    crop: str
    input_size: int
    metrics: tuple[str, ...]
    missing_face: str
    splits: dict[str, tuple[SplitEntry, ...]]
    published_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: str = ""
    score_convention: str = "hpbench"  # the convention errors are measured in (eth-xgaze: ETH's own angles)
    synthetic: bool = False  # its data are hpbench's synthetic heads: its numbers say nothing about real faces
    frozen_keys_sha256: dict[str, str] = field(default_factory=dict)  # test dataset → sha256 of its key list
    path: Path | None = None

    def entries(self, split: str) -> tuple[SplitEntry, ...]:
        if split not in self.splits:
            raise HpbenchError(f"protocol {self.name} has no split {split!r} (has: {', '.join(self.splits)})")
        return self.splits[split]

    def datasets(self, split: str = "test", data: str | Path = "data", preprocessing=None, crop: str | None = None,
                 boxes: str | None = None, cache: bool = False, workers: int = 0,
                 progress: bool = False) -> list["ProtocolSet"]:
        """The protocol's Datasets of ``split`` from the prepared files in ``data``, one per dataset, as
        its task makes them: the protocol's crop rule, input size (with ImageNet's normalisation unless
        ``preprocessing``), boxes and missing-face rule. ``crop`` and ``boxes`` override them, said in
        the log and kept on each Dataset (``crop``, ``box_source``)."""
        task = TASKS.get(self.task)
        return [ProtocolSet(s, task.dataset_of(s, self, preprocessing, crop, boxes, cache, workers, progress))
                for s in select(self, split, data)]

    def score(self, test: "ProtocolSet", predictions, convention: str | None = None):
        """The protocol's metrics and counts (hpbench.evaluation.records.DatasetResult) of predictions
        made anywhere: ``predictions`` maps each sample key of ``test`` to its values (head pose: three
        angles in ``convention``, hpbench's by default, or a 3 × 3 matrix for a matrix convention; body
        pose: the joints, (k, 2) original-image pixels). Missing keys are counted as not scored."""
        task = TASKS.get(self.task)
        rows = task.rows_of(predictions, test.selection, convention)
        return task.score(task.from_file("predictions", test.selection, rows, self, convention), self)

    @property
    def primary(self) -> Column:
        """The column that ranks (hpbench.metrics.primary_column): the mean of its first metric."""
        return primary_column(self.metrics)

    @property
    def test_split(self) -> str:
        return "test" if "test" in self.splits else list(self.splits)[-1]

    @property
    def sha256(self) -> str:
        """The protocol's identity by content: the sha256 of everything that decides a score (name,
        version, task, filter, crop, input size, metrics, missing-face rule, convention, every split
        entry, frozen key lists), not of its wording. Records carry it, so a file that reuses a
        bundled protocol's name is told apart from it."""
        content = {"name": self.name, "version": self.version, "task": self.task, "filter": self.filter_limit,
                   "crop": self.crop, "input_size": self.input_size, "metrics": list(self.metrics),
                   "missing_face": self.missing_face, "score_convention": self.score_convention,
                   "frozen_keys_sha256": self.frozen_keys_sha256,
                   "splits": {split: [asdict(entry) for entry in entries] for split, entries in self.splits.items()}}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def protocols_dir() -> Path:
    return bundled_dir("protocols")


def list_protocols() -> list[Protocol]:
    return [load_protocol(path) for path in sorted(protocols_dir().glob("*.yaml"))]


def load_protocol(name_or_path: str | Path, bundled: bool = False) -> Protocol:
    """A protocol by name (``p2``, ``2`` for p2) or from a YAML file path; ``bundled``: a bundled
    protocol by its name only (a name read from a record)."""
    text = str(name_or_path)
    if bundled:
        checked_name(text, "protocol name")
    path = bundled_yaml("protocols", f"p{text}" if text.isdigit() else text, "protocol", by_name=bundled)
    return _parse(read_yaml(path, "protocol file"), path)


def _parse(raw: Any, path: Path) -> Protocol:
    if not isinstance(raw, dict):
        raise HpbenchError(f"{path}: a protocol file is a mapping")
    check_known_keys(raw, SCHEMA_KEYS, str(path))
    missing = {"name", "version", "task", "splits", "crop", "metrics"} - set(raw)
    if missing:
        raise HpbenchError(f"{path}: missing keys {sorted(missing)} (docs/PROTOCOLS.md shows a complete file)")
    check_values(raw, PROTOCOL_RULES, str(path))
    checked_name(raw["name"], f"{path}: name")
    _check_nested(raw, path)
    if raw.get("filter") is not None:
        check_known_keys(raw["filter"], ("limit",), f"{path}: filter")
        check_values(raw["filter"], {"limit": Rule((float, type(None)), above=0, high=180)}, f"{path}: filter")
    task = raw["task"]
    try:
        missing_face = _check_rules(raw, task)
        if not isinstance(raw["splits"], dict):
            raise HpbenchError("splits: a mapping of split names to lists of entries")
        check_known_keys(raw["splits"], SPLITS, "splits")
        check_values(raw["splits"], dict.fromkeys(raw["splits"], Rule((list,))), "splits")
        splits = {split: tuple(_entry(entry) for entry in entries) for split, entries in raw["splits"].items()}
        if not any(splits.values()):
            raise HpbenchError("splits: no split names a dataset")
    except HpbenchError as err:
        raise HpbenchError(f"{path}: {err}") from None
    limit = (raw.get("filter") or {}).get("limit")
    return Protocol(
        name=raw["name"], title=raw.get("title", raw["name"]), origin=raw.get("origin", "hpbench"),
        source=raw.get("source", ""), version=int(raw["version"]), changelog=tuple(raw.get("changelog", [])),
        task=task, filter_limit=None if limit is None else float(limit), crop=raw["crop"],
        input_size=int(raw.get("input_size", 224)), metrics=tuple(raw["metrics"]), missing_face=missing_face,
        splits=splits, published_counts=raw.get("published_counts") or {}, notes=raw.get("notes", ""),
        score_convention=raw.get("score_convention", "hpbench"), synthetic=bool(raw.get("synthetic", False)),
        frozen_keys_sha256=dict(raw.get("frozen_keys_sha256") or {}), path=path,
    )


def _check_nested(raw: dict, path: Path) -> None:
    """The values inside the lists and mappings of a protocol file: changelog entries, metric names,
    published counts, frozen key-list hashes."""
    for index, change in enumerate(raw.get("changelog") or []):
        if not isinstance(change, dict):
            raise HpbenchError(f"{path}: changelog[{index}] must be a mapping (version, date, change)")
        check_values(change, CHANGE_RULES, f"{path}: changelog[{index}]")
    for index, metric in enumerate(raw["metrics"]):
        if not isinstance(metric, str):
            raise HpbenchError(f"{path}: metrics[{index}] must be a metric name, not {metric!r:.60}")
    if not raw["metrics"]:
        raise HpbenchError(f"{path}: metrics: name at least one metric")
    for dataset, counts in (raw.get("published_counts") or {}).items():
        if not isinstance(counts, dict):
            raise HpbenchError(f"{path}: published_counts.{dataset} must be a mapping of counts")
        check_values(counts, dict.fromkeys(counts, Rule((int,), low=0)), f"{path}: published_counts.{dataset}")
    for dataset, digest in (raw.get("frozen_keys_sha256") or {}).items():
        if not (isinstance(digest, str) and SHA256.fullmatch(digest)):
            raise HpbenchError(f"{path}: frozen_keys_sha256.{dataset} must be a sha256 (64 hexadecimal digits)")


def _check_rules(raw: dict, task: str) -> str:
    """Check that the task, crop rule, score convention and metrics exist and fit; the missing_face rule."""
    rules = TASKS.get(task).missing_face  # what a sample without its preferred box becomes
    missing_face = raw.get("missing_face", rules[0])
    if missing_face not in rules:
        raise HpbenchError(f"missing_face {missing_face!r}: for {task}, one of {', '.join(rules)}")
    CROP_RULES.get(raw["crop"])
    get_convention(raw.get("score_convention", "hpbench"))
    for text in raw["metrics"]:
        metric, _ = parse_metric(text)
        if metric.task != task:
            raise HpbenchError(f"metric {text!r} scores {metric.task}, not {task}")
    return missing_face


def _entry(raw: dict) -> SplitEntry:
    if not isinstance(raw, dict) or "dataset" not in raw:
        raise HpbenchError(f"a split entry is a mapping with a 'dataset', got {raw!r:.80}")
    check_values(raw, ENTRY_RULES, "split entry")
    check_known_keys(raw, ENTRY_KEYS, f"split entry {raw['dataset']}")
    converter = CONVERTERS.get(raw["dataset"])
    select = raw.get("select", "all")
    select = {"rule": select} if isinstance(select, str) else dict(select)
    if "rule" not in select:
        raise HpbenchError(f"split entry {raw['dataset']}: select needs a 'rule' (one of {', '.join(SELECTION_RULES)})")
    _check_rule(select, raw["dataset"])
    if raw.get("file") is not None:
        problem = path_problem(str(raw["file"]))
        if problem:
            raise HpbenchError(f"split entry {raw['dataset']}: file {raw['file']!r} is {problem}; name a file inside "
                               "the data folder")
    reference = raw.get("reference", converter.reference_box if raw.get("boxes") else None)
    if raw.get("labels") is not None:
        checked_name(raw["labels"], f"split entry {raw['dataset']}: labels")
    return SplitEntry(dataset=raw["dataset"], select=select, boxes=raw.get("boxes"), reference=reference,
                      filter=raw.get("filter", True), file=raw.get("file"), labels=raw.get("labels"))


def _check_rule(select: dict, dataset: str) -> None:
    """Fail early on an unknown rule or parameter, a nested rule of ``all_of`` included, and on a key
    list that is not bundled."""
    if not isinstance(select, dict) or "rule" not in select:
        raise HpbenchError(f"split entry {dataset}: a rule is a mapping with a 'rule' (one of "
                           f"{', '.join(SELECTION_RULES)})")
    rule = SELECTION_RULES.get(select["rule"])
    parameters = [name for name in inspect.signature(rule).parameters if name != "data"]
    check_known_keys([k for k in select if k != "rule"], parameters, f"split entry {dataset}, rule {select['rule']}")
    if select["rule"] == "key_list" and isinstance(select.get("name"), str):
        key_list(select["name"])
    for nested in select.get("rules", []) if select["rule"] == "all_of" else []:
        _check_rule(nested, dataset)


def file_protocol(path: str | Path, boxes: str | None = None) -> tuple[Protocol, Path]:
    """``hpbench evaluate MODEL --test FILE``: every sample of one prepared head-pose file (inside
    ±99°), its own box or ``boxes``, the ``kd`` crop at 224 px, MAE, geodesic and MAEV; and the data
    folder it lies in."""
    path = Path(path)
    if not path.is_file():
        raise HpbenchError(f"--test {path}: no such file (a prepared .h5 from hpbench prepare)")
    check_before_use(path)
    dataset = str(HPFile(path).attrs.get("dataset", ""))
    if dataset not in CONVERTERS:
        raise HpbenchError(f"--test {path}: its 'dataset' attribute ({dataset!r}) names no hpbench dataset")
    reference = CONVERTERS.get(dataset).reference_box
    if reference is None:
        raise HpbenchError(f"--test {path}: {dataset} is not a head-pose dataset")
    entry = SplitEntry(dataset, {"rule": "all"}, boxes or reference, reference, True, path.name)
    protocol = Protocol(name=f"file-{safe_word(path.stem)}", title=f"every sample of {path.name} inside ±99°", origin="file",
                        source=str(path), version=1, changelog=(), task="headpose", filter_limit=99.0, crop="kd",
                        input_size=224, metrics=("mae", "geodesic", "maev"), missing_face="fallback",
                        splits={"test": (entry,)})
    return protocol, path.parent


# ---------------------------------------------------------------------------------------------
# Selection rules: (HPFile, **params) -> boolean mask over the file's samples


SELECTION_RULES: Registry[Callable[..., np.ndarray]] = Registry("selection rule")


@SELECTION_RULES.register("all")
def select_all(data: HPFile) -> np.ndarray:
    return np.ones(len(data), bool)


@SELECTION_RULES.register("meta_in")
def select_meta_in(data: HPFile, where: dict[str, list]) -> np.ndarray:
    """Samples whose meta columns all take one of the listed values, e.g. {sequence: [6, 7]}."""
    mask = np.ones(len(data), bool)
    for column, values in where.items():
        stored = data.meta(column)
        mask &= np.isin(stored, np.asarray(values, dtype=stored.dtype))
    return mask


@SELECTION_RULES.register("meta_not_in")
def select_meta_not_in(data: HPFile, where: dict[str, list]) -> np.ndarray:
    """The complement of meta_in."""
    return ~select_meta_in(data, where)


@SELECTION_RULES.register("index_range")
def select_index_range(data: HPFile, column: str, first: int, last: int) -> np.ndarray:
    """Samples whose integer meta ``column`` lies in [first, last] (inclusive)."""
    values = data.meta(column)
    return (values >= first) & (values <= last)


def key_list(name: str) -> list[str]:
    """A bundled frozen key list, ``protocols/keys/<name>.txt``: one key per line, ``#`` lines are its
    provenance."""
    checked_name(name, "key list name")
    path = protocols_dir() / "keys" / f"{name}.txt"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.txt")))
        raise HpbenchError(f"no bundled key list {name!r} (known: {known})")
    return _read_key_list(path)


@functools.lru_cache(maxsize=16)
def _read_key_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


@SELECTION_RULES.register("key_list")
def select_key_list(data: HPFile, name: str) -> np.ndarray:
    """The samples whose key is in the bundled list ``protocols/keys/<name>.txt`` (a published subset,
    e.g. the frames a peer's detector kept); listed keys the file lacks are counted in the log."""
    listed = key_list(name)
    mask = np.isin(data.keys, listed)
    missing = len(set(listed)) - int(mask.sum())
    if missing:
        log.warning("%s: %s keys of the list %s are not in the file (it lists %s)", data.path, f"{missing:,}", name,
                    f"{len(listed):,}")
    return mask


@SELECTION_RULES.register("yaw_within")
def select_yaw_within(data: HPFile, limit: float) -> np.ndarray:
    """Heads turned less than ``limit`` degrees from the camera: |yaw| < limit, the yaw taken over the
    whole circle (hpbench.pose.full_range_yaw), so a head seen from behind is never inside
    however its label's triple was written (DirectMHP's narrow-range Panoptic: limit 90)."""
    yaw = np.abs(full_range_yaw(data.ypr.astype(np.float64)))
    return np.isfinite(yaw) & (yaw < limit)


@SELECTION_RULES.register("all_of")
def select_all_of(data: HPFile, rules: list) -> np.ndarray:
    """The samples every one of ``rules`` (each a mapping with its ``rule`` and parameters) selects."""
    mask = np.ones(len(data), bool)
    for rule in rules:
        params = {k: v for k, v in rule.items() if k != "rule"}
        mask &= SELECTION_RULES.get(rule["rule"])(data, **params)
    return mask


@SELECTION_RULES.register("aflw_first_jpg")
def select_aflw_first_jpg(data: HPFile, count: int, part: str) -> np.ndarray:
    """Protocol 2: sort AFLW's image basenames, drop .png, keep the first ``count`` .jpg images; in each,
    the face with the lowest face_id is a test face (``part: test``); every other face is train."""
    names, extensions, face_ids = data.meta("image_name"), data.meta("extension"), data.meta("face_id")
    first_images = sorted(set(names[extensions == "jpg"]))[:count]
    test = np.zeros(len(data), bool)
    chosen = np.isin(names, first_images) & (extensions == "jpg")
    for name in first_images:
        faces = np.flatnonzero(chosen & (names == name))
        test[faces[np.argmin(face_ids[faces])]] = True
    if part not in ("test", "train"):
        raise HpbenchError(f"aflw_first_jpg: part must be test or train, got {part!r}")
    return test if part == "test" else ~test


@SELECTION_RULES.register("identity_fraction")
def select_identity_fraction(data: HPFile, column: str, fraction: float, part: str, salt: str = "hpbench") -> np.ndarray:
    """Split by a grouping column (e.g. 300W-LP's face identity): groups are ordered by
    sha256(salt + value), the first ``fraction`` of them form part ``first``, the others ``rest``.
    No group is on both sides; the split is the same on every machine."""
    values = data.meta(column).astype(str)
    groups = sorted(set(values), key=lambda v: hashlib.sha256(f"{salt}{v}".encode()).hexdigest())
    first = set(groups[: int(round(fraction * len(groups)))])
    mask = np.array([v in first for v in values], bool)
    if part not in ("first", "rest"):
        raise HpbenchError(f"identity_fraction: part must be first or rest, got {part!r}")
    return mask if part == "first" else ~mask


@SELECTION_RULES.register("first_subjects")
def select_first_subjects(data: HPFile, count: int, exclude: list, column: str = "subject",
                          splits: tuple = ("train", "val")) -> np.ndarray:
    """The ``count`` lowest-numbered subjects of the native training splits, leaving out ``exclude``."""
    subjects, native = data.meta(column), data.meta("native_split").astype(str)
    candidates = sorted(set(subjects[np.isin(native, list(splits))]) - set(exclude))
    return np.isin(subjects, candidates[:count])


# ---------------------------------------------------------------------------------------------


@dataclass
class Selection:
    """The samples of one dataset in one split, and how many each step kept."""

    dataset: str
    data: HPFile
    indices: np.ndarray  # into the prepared file, in file order
    counts: dict[str, int]
    keys_sha256: str
    entry: SplitEntry
    content_sha256: str  # of the prepared file, checked before use

    @property
    def path(self) -> Path:
        return self.data.path

    @property
    def truth(self) -> np.ndarray:
        """(n, 3) the selected samples' labels: the dataset's own poses or the entry's label source."""
        return self.data.pose(self.entry.labels)[self.indices]


@dataclass
class ProtocolSet:
    """One dataset of a protocol's split: the selection (its counts and key-list hash) and the Dataset
    its task makes of it (``Protocol.datasets``)."""

    selection: Selection
    dataset: Any

    @property
    def name(self) -> str:
        return self.selection.dataset

    @property
    def keys(self) -> np.ndarray:
        return self.selection.data.keys[self.selection.indices]


def _prepared(data_dir, entry: SplitEntry) -> HPFile:
    if entry.file is None:
        return open_prepared(data_dir, entry.dataset)
    path = Path(data_dir) / entry.file
    if not path.is_file():
        raise HpbenchError(f"{path} is missing (the protocol's file for {entry.dataset})")
    data = HPFile(path)
    if str(data.attrs.get("dataset")) != entry.dataset:
        raise HpbenchError(f"{path} holds {data.attrs.get('dataset')!r}, not {entry.dataset!r} as the protocol says")
    return data


def require_samples(selections: list[Selection], protocol: Protocol, split: str) -> list[Selection]:
    """``selections``, each of which holds a sample: there is nothing to score or train on otherwise."""
    for selection in selections:
        if not len(selection.indices):
            steps = " → ".join(f"{name} {value:,}" for name, value in selection.counts.items())
            raise HpbenchError(f"protocol {protocol.name}, split {split}: no sample of {selection.path} is selected "
                               f"({steps}); check the entry's select rule and the filter")
    return selections


def keys_sha256(keys) -> str:
    """sha256 of the sorted keys, one per line: the fingerprint of a frozen split."""
    return hashlib.sha256("\n".join(sorted(map(str, keys))).encode()).hexdigest()


def _check_labelled(data: HPFile, entry: SplitEntry, mask: np.ndarray) -> None:
    """Every selected sample has a label in the entry's label source: none is dropped unsaid."""
    unlabelled = mask & ~np.isfinite(data.pose(entry.labels)).all(axis=1)
    if unlabelled.any():
        keys = ", ".join(map(str, data.keys[unlabelled][:3]))
        raise HpbenchError(f"{data.path}: {int(unlabelled.sum()):,} selected samples have no label in "
                           f"labels/{entry.labels} (e.g. {keys}); import labels for them or select fewer")


def select(protocol: Protocol, split: str, data_dir: str | Path = "data") -> list[Selection]:
    selections = []
    for entry in protocol.entries(split):
        data = _prepared(data_dir, entry)
        content_sha256 = check_before_use(data.path)
        params = {k: v for k, v in entry.select.items() if k != "rule"}
        try:
            mask = SELECTION_RULES.get(entry.select["rule"])(data, **params)
        except TypeError as err:
            raise HpbenchError(f"{protocol.path}: rule {entry.select['rule']!r} for {entry.dataset}: {err}") from None
        counts = {"in file": len(data), "selected": int(mask.sum())}
        angle_filter = TASKS.get(protocol.task).angle_filter
        if entry.labels is not None and angle_filter:
            _check_labelled(data, entry, mask)
        if entry.filter and protocol.filter_limit is not None and angle_filter:
            mask &= inside_range(data.pose(entry.labels), protocol.filter_limit)
            counts[f"inside ±{protocol.filter_limit:g}°"] = int(mask.sum())
        indices = np.flatnonzero(mask)
        selections.append(Selection(entry.dataset, data, indices, counts, keys_sha256(data.keys[indices]), entry,
                                    content_sha256))
    return selections


# ---------------------------------------------------------------------------------------------
# ``hpbench protocols list | show``
