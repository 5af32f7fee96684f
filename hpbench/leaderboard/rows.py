"""Leaderboard rows (reported numbers and reproduced records) and each protocol's board: the columns
its tables show, derived from the protocol's metrics (hpbench.metrics) and task (hpbench.tasks)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from hpbench.errors import HpbenchError
from hpbench.evaluation.conformance import conformance, same_test_sets
from hpbench.evaluation.records import PREDICTIONS, ResultRecord
from hpbench.metrics import Column, metric_columns, parse_metric
from hpbench.models.speed import latency
from hpbench.protocols import load_protocol
from hpbench.resources import bundled_dir
from hpbench.tasks import TASKS
from hpbench.yamlfiles import read_yaml


SPREAD_GROUP = "box and crop"  # the sensitivity group whose spread the README shows beside a score
PREDICTIONS_NOTE = "scored from a predictions file: its crop, input size and boxes are its producer's to keep"


def leaderboards_dir() -> Path:
    return bundled_dir("leaderboards")


@dataclass
class Row:
    protocol: str
    model: str
    source: str  # "reported", "reproduced", "reproduced (synthetic data)"
    results: dict[str, dict[str, float]]
    comparable: bool = True
    stale: bool = False
    box_source: str = ""
    params_m: float | None = None
    gflops: float | None = None
    memory_mb: float | None = None
    protocol_version: int | None = None
    hpbench_version: str = ""
    code_commit: str = ""
    weights_sha256: str = ""
    date: str = ""
    reference: str = ""
    variant: str = ""  # what distinguishes a method's rows: flag point, pretext task, pre-training …
    note: str = ""
    keys_sha256: dict[str, str] = field(default_factory=dict)  # a record's test key lists, per dataset
    spread: dict[str, list[float]] = field(default_factory=dict)  # sensitivity: per dataset, low and high over
    # box sources, scales, shifts and crops (hpbench.evaluation.sensitivity)
    latency: tuple[float, str] | None = None  # evaluate --bench: batch-1 ms and where (hpbench.models.speed.latency)
    differs: bool = False  # a reported row that says why its numbers differ from another of the same model

    def rank_value(self, datasets: list[str], board: "Board") -> tuple[float, float]:
        """The sort key: the board's primary value on the first test set that has it (negated where
        higher is better), then its second (body pose: the loss, all that the reported rows give)."""
        keys = [board.primary] + ([board.second] if board.second else [])
        found = [math.inf, math.inf]
        for dataset in datasets:
            values = self.results.get(dataset, {})
            for i, column in enumerate(keys):
                if found[i] == math.inf and values.get(column.board) is not None:
                    found[i] = -values[column.board] if column.higher_is_better else values[column.board]
        return found[0], found[1]


@dataclass(frozen=True)
class Board:
    """What a protocol's tables show per test set: the columns of its first metric and its task's own
    (README and chart), the primary one (the ranking and the chart), the second one that ranks and is
    charted where no row has the primary (body pose: the loss), and the CSV's columns (those, the
    columns the task keeps and its counts)."""

    columns: tuple[Column, ...]
    primary: Column
    second: Column | None
    csv_columns: tuple[Column, ...]


def board_for(protocol: str) -> Board:
    spec = load_protocol(protocol, bundled=True)
    task = TASKS.get(spec.task)
    text = spec.metrics[0]
    shown = parse_metric(text)[0].columns(text)
    if not parse_metric(text)[0].per_angle:  # a rotation error first: the protocol's per-angle error beside it
        angled = next((t for t in spec.metrics[1:] if parse_metric(t)[0].per_angle), None)
        shown += parse_metric(angled)[0].columns(angled) if angled else ()
    shown = (*shown, *task.columns)
    csv_columns = tuple({c.board: c for c in (*shown, *task.kept, *task.counts)}.values())
    return Board(shown, spec.primary, task.columns[0] if task.columns else None, csv_columns)


def datasets_of(protocol: str) -> list[str]:
    spec = load_protocol(protocol, bundled=True)
    return [entry.dataset for entry in spec.entries(spec.test_split)]


def sorted_rows(rows: list[Row], datasets: list[str], board: Board) -> list[Row]:
    """Comparable before not, current before stale, then by the board's ranking value."""
    return sorted(rows, key=lambda r: (not r.comparable, r.stale, r.rank_value(datasets, board), r.model, r.source,
                                       r.reference))


def ranked(row: Row) -> bool:
    return row.comparable and not row.stale


AGREE = 0.01 + 1e-9  # reported numbers agree when every shared value differs by at most one unit of the last
# digit papers print (two decimals): one source rounds where another truncates (6.559 and 6.55)


def load_reported(path: Path) -> list[Row]:
    """The reported rows, one per model and measurement: rows of one model under one protocol whose
    numbers agree (AGREE) become one row citing every source; rows whose numbers differ stay apart,
    and each must say why in ``differs`` (another crop, training set, filter …)."""
    content = read_yaml(path, "list of reported numbers")
    sources = content.get("sources", {})
    rows = []
    for number, raw in enumerate(content.get("rows", []), start=1):
        try:
            source = raw["source"]
            citation = sources[source["paper"]]
            table = f", table {source['table']}" if source.get("table", "-") != "-" else ""
            notes = [raw["differs"]] if raw.get("differs") else []
            notes += (["uses extra data"] if raw.get("extra_data") else []) + ([raw["note"]] if raw.get("note") else [])
            rows.append(Row(
                protocol=raw["protocol"], model=raw["model"], source="reported",
                results={d: {k: float(v) for k, v in values.items()} for d, values in raw["results"].items()},
                comparable=bool(raw.get("comparable", True)),
                reference=f"{citation}{table}, row “{source['row']}”",
                variant=" · ".join(f"{key.replace('_', ' ')} {value}"
                                   for key, value in raw.get("variant", {}).items()),
                note="; ".join(notes), differs=bool(raw.get("differs")),
            ))
        except (KeyError, TypeError, ValueError) as err:
            raise HpbenchError(f"{path}: row {number} ({raw.get('method', '?') if isinstance(raw, dict) else raw}) "
                               f"is malformed: {type(err).__name__} {err}") from None
    return _one_row_per_measurement(rows, path)


def _agree(first: Row, second: Row) -> bool:
    """The same measurement: the same comparability and, on every value both give, numbers that agree."""
    shared = [(first.results[d][k], second.results[d][k]) for d in first.results.keys() & second.results.keys()
              for k in first.results[d].keys() & second.results[d].keys()]
    return first.comparable == second.comparable and bool(shared) and all(abs(a - b) <= AGREE for a, b in shared)


def _identity(row: Row) -> tuple[str, str, str]:
    """What one reported row measures: a model (its variant included: another pretext task or
    pre-training is another model) under a protocol."""
    return row.protocol, row.model, row.variant


def _one_row_per_measurement(rows: list[Row], path: Path) -> list[Row]:
    merged: list[Row] = []
    for row in rows:
        same = next((m for m in merged if _identity(m) == _identity(row) and _agree(m, row)), None)
        if same is None:
            merged.append(row)
            continue
        for dataset, values in row.results.items():  # the first source's values where both give one
            same.results[dataset] = {**values, **same.results.get(dataset, {})}
        same.reference = f"{same.reference}; {row.reference}"
        same.note = "; ".join(dict.fromkeys(n for n in (*same.note.split("; "), *row.note.split("; ")) if n))
        same.differs = same.differs or row.differs
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in merged:
        groups.setdefault(_identity(row), []).append(row)
    for (protocol, model, _), group in groups.items():
        unexplained = [r.reference for r in group if not r.differs]
        if len(group) > 1 and unexplained:
            raise HpbenchError(f"{path}: {model} has {len(group)} different results under {protocol}; each row needs "
                               f"'differs:' saying why (another crop, training set, filter …); missing in: "
                               f"{' | '.join(unexplained)}")
    return merged


def load_records(folder: Path) -> list[Row]:
    rows = []
    for path in sorted(folder.glob("*.json")):
        record = ResultRecord.load(path)
        protocol, model = record.protocol, record.model
        spec = load_protocol(protocol.name, bundled=True)
        task = TASKS.get(spec.task)
        ensemble = record.evaluation.ensemble
        name = model.arch + (f" + ensemble p={ensemble['pad']},s={ensemble['stride']}" if ensemble else "")
        columns = (*metric_columns(spec.metrics), *task.columns, *task.kept)
        results = {}
        for dataset, result in record.results.items():
            values = {c.board: result.metrics[c.key] for c in columns
                      if isinstance(result.metrics.get(c.key), (int, float))}
            values.update({c.board: result.counts.get(c.key, 0) for c in task.counts})
            results[dataset] = values
        box_sources = sorted({r.box_source for r in record.results.values()})
        stale = int(protocol.version) < spec.version
        reasons = conformance(record, spec)
        notes = ([f"protocol v{protocol.version} is older than the current v{spec.version}"] if stale else []) + \
            ([f"not comparable: {'; '.join(reasons)}"] if reasons else []) + \
            ([PREDICTIONS_NOTE] if model.kind == PREDICTIONS else [])
        rows.append(Row(
            protocol=protocol.name, model=name,
            source="reproduced (synthetic data)" if spec.synthetic else "reproduced",
            results=results, comparable=not reasons, stale=stale, box_source=", ".join(box_sources),
            params_m=model.parameters_m, gflops=model.gflops, memory_mb=model.memory_mb,
            protocol_version=int(protocol.version),
            hpbench_version=record.environment["hpbench_version"], code_commit=record.environment["code_commit"],
            weights_sha256=model.sha256, date=record.date, reference=path.name, note="; ".join(notes),
            keys_sha256={d: r.keys_sha256 for d, r in record.results.items()},
            latency=latency(record.speed) if record.speed else None,
            spread={d: groups[SPREAD_GROUP] for d, groups in (record.sensitivity or {}).get("spread", {}).items()
                    if SPREAD_GROUP in groups},
        ))
    by_protocol: dict[str, list[Row]] = {}
    for row in rows:
        by_protocol.setdefault(row.protocol, []).append(row)
    for protocol, group in by_protocol.items():
        same_test_sets([r for r in group if not r.stale], load_protocol(protocol, bundled=True))
    return rows
