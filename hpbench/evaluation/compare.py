"""``hpbench compare RECORD…``: result records side by side, each with what it was measured on and
why it would not be ranked under its protocol (hpbench.evaluation.conformance).

Each record shows the columns of its protocol's first metric (the one that ranks: an MAE's angles and
mean, a PCK …) per test set; records of different metrics share one table, each filling its own."""

from __future__ import annotations

from pathlib import Path

from hpbench.errors import HpbenchError
from hpbench.evaluation.conformance import conformance
from hpbench.evaluation.records import ResultRecord
from hpbench.evaluation.report import cell
from hpbench.metrics import parse_metric
from hpbench.protocols import load_protocol


def compare_table(records: list) -> str:
    from tabulate import tabulate

    if not records:
        raise HpbenchError("name one or more result records (results/*.json)")
    loaded = [(Path(path), ResultRecord.load(path)) for path in records]
    datasets = list(dict.fromkeys(d for _, record in loaded for d in record.results))
    ranking = {}
    for _, record in loaded:
        text = record.protocol.metrics[0]
        for column in parse_metric(text)[0].columns(text):
            ranking.setdefault(column.key, column)
    columns = list(ranking.values())
    rows = []
    for path, record in loaded:
        settings = record.evaluation
        try:
            reasons = conformance(record, load_protocol(record.protocol.name, bundled=True))
        except HpbenchError:  # a --test file, or a protocol file not at hand
            reasons = ["no protocol to check it against"]
        row = [path.name, f"{record.protocol.name} v{record.protocol.version}", record.model.arch,
               record.model.sha256[:8], f"{settings.crop} @ {settings.input_size}"]
        for dataset in datasets:
            result = record.results.get(dataset)
            metrics = result.metrics if result else {}
            row += [cell(metrics[c.key], c) if c.key in metrics else "" for c in columns]
            row.append(result.counts["evaluated"] if result else "")
        rows.append(row + ["; ".join(reasons) or "conforms"])
    headers = ["record", "protocol", "model", "weights", "crop"]
    headers += [f"{d} {h}" for d in datasets for h in (*(c.header for c in columns), "n")] + ["conformance"]
    return tabulate(rows, headers=headers, disable_numparse=True)
