"""``hpbench bench MODEL [--protocol P]``: latency, throughput, peak memory and size, measured
(hpbench.models.speed); the table, and the speed section as JSON (``--out``)."""

from __future__ import annotations

import json

from hpbench.evaluation.speed import bench_section
from hpbench.io import write_text_atomic
from hpbench.models.speed import speed_table


def run(model: str, protocol: str | None = None, out: str | None = None, **options) -> int:
    section = bench_section(model, protocol, **options)
    print(speed_table(section))
    if out:
        print(f"speed: {write_text_atomic(out, json.dumps(section, indent=2) + chr(10))}")
    return 0
