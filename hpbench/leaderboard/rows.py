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
    shown = (*parse_metric(text)[0].columns(text), *task.columns)
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


def load_reported(path: Path) -> list[Row]:
    content = read_yaml(path, "list of reported numbers")
    sources = content.get("sources", {})
    rows = []
    for number, raw in enumerate(content.get("rows", []), start=1):
        try:
            source = raw["source"]
            citation = sources[source["paper"]]
            table = f", table {source['table']}" if source.get("table", "-") != "-" else ""
            rows.append(Row(
                protocol=raw["protocol"], model=raw["model"], source="reported",
                results={d: {k: float(v) for k, v in values.items()} for d, values in raw["results"].items()},
                comparable=bool(raw.get("comparable", True)),
                reference=f"{citation}{table}, row “{source['row']}”",
                variant=" · ".join(f"{key.replace('_', ' ')} {value}"
                                   for key, value in raw.get("variant", {}).items()),
                note=("uses extra data; " if raw.get("extra_data") else "") + raw.get("note", ""),
            ))
        except (KeyError, TypeError, ValueError) as err:
            raise HpbenchError(f"{path}: row {number} ({raw.get('method', '?') if isinstance(raw, dict) else raw}) "
                               f"is malformed: {type(err).__name__} {err}") from None
    return rows


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
