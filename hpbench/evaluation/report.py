"""The printed result of ``hpbench evaluate``: one row per test set with the protocol's metrics (their
columns, hpbench.metrics), the task's own columns and counts, then the task's notes."""

from __future__ import annotations

import math

from hpbench.evaluation.records import ResultRecord
from hpbench.metrics import Column, parse_metric
from hpbench.tasks import TASKS


def cell(value, column: Column, share: bool = False) -> str:
    """A number as a table prints it: a share of joints in percent, else at the column's digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if share:
        return f"{100 * value:.1f} %"
    return f"{value:.{column.digits}f}" if isinstance(value, float) else str(value)


def results_table(record: ResultRecord) -> str:
    from tabulate import tabulate

    task = TASKS.get(record.protocol.task)
    columns = []  # (column, shown in percent: a share of joints)
    for text in record.protocol.metrics:
        metric = parse_metric(text)[0]
        columns += [(column, metric.upper <= 1) for column in metric.columns(text)]
    columns += [(column, False) for column in task.columns]
    rows = []
    for dataset, result in record.results.items():
        rows.append([dataset, *(cell(result.metrics.get(c.key), c, share) for c, share in columns),
                     *(result.counts.get(c.key, "—") for c in task.counts), result.box_source])
    headers = ["dataset", *(c.header for c, _ in columns), *(c.header for c in task.counts), "boxes"]
    settings = record.evaluation
    title = (f"protocol {record.protocol.name} v{record.protocol.version} · {record.model.file} · crop "
             f"{settings.crop} at {settings.input_size} px {task.describe(record)}")
    table = tabulate(rows, headers=headers, disable_numparse=True)
    return "\n".join([title, table, *task.notes(record)])
