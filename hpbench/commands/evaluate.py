"""``hpbench evaluate MODEL (--protocol P | --test FILE)``: score, print the table, write the record (and
the leaderboard's copy)."""

from __future__ import annotations

from pathlib import Path

from hpbench.errors import HpbenchError
from hpbench.evaluation.conformance import verdict
from hpbench.evaluation.evaluate import evaluate
from hpbench.evaluation.report import results_table
from hpbench.leaderboard.rows import leaderboards_dir
from hpbench.protocols import file_protocol


def run(model: str, protocol: str | None = None, test: str | None = None, out: str | None = None,
        record: str | None = None, **options) -> int:
    if (protocol is None) == (test is None):
        raise HpbenchError("name a protocol (--protocol p1) or one prepared file (--test data/mine.h5), not both")
    if test is not None:
        if record is not None:
            raise HpbenchError("--record ranks a record under its protocol; a --test file has none")
        protocol, options["data_dir"] = file_protocol(test, options.pop("boxes", None))
    result = evaluate(model, protocol, **options)
    print(results_table(result))
    print(verdict(result))
    print(f"record: {result.write(out or result.default_path)}")
    if record is not None:
        folder = Path(record) if record else leaderboards_dir() / "results"
        print(f"leaderboard record: {result.write(result.leaderboard_path(folder))} (then: hpbench leaderboard build)")
    if options.get("save_predictions"):
        print(f"predictions: {options['save_predictions']}")
    return 0
