"""``hpbench compare RECORD…``."""

from __future__ import annotations

from hpbench.evaluation.compare import compare_table


def run(records: list[str]) -> int:
    print(compare_table(records))
    return 0
