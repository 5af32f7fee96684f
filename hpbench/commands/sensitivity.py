"""``hpbench sensitivity MODEL --protocol P``: the report, one chart per test set, the record with its
``sensitivity`` section."""

from __future__ import annotations

import logging
from pathlib import Path

from hpbench.commands.evaluate import report
from hpbench.evaluation.sensitivity import GROUPS, sensitivity, sensitivity_table
from hpbench.evaluation.sensitivity_chart import sensitivity_chart
from hpbench.io import write_bytes_atomic
from hpbench.paths import output_path
from hpbench.protocols import load_protocol

logger = logging.getLogger(__name__)


def run(model: str, protocol: str, data_dir: str = "data", groups: str | None = None, charts: str | None = None,
        out: str | None = None, record: str | None = None, **options) -> int:
    spec = load_protocol(protocol)
    chosen = tuple(g.strip() for g in groups.split(",")) if groups else GROUPS
    result = sensitivity(model, spec, data_dir, chosen,
                         on_setting=lambda i, n, name: logger.info(f"setting {i}/{n}: {name}"), **options)
    print(sensitivity_table(result))
    print()
    report(result.base.record, spec, out, record)
    folder = Path(charts or "results")
    for dataset in result.base.record.results:
        path = output_path(folder, f"{spec.name}-{dataset}-sensitivity.png")
        print(f"chart: {write_bytes_atomic(path, sensitivity_chart(result, dataset))}")
    return 0
