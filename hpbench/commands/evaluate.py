"""``hpbench evaluate MODEL (--protocol P | --test FILE)``: score, print the table, write the record (and
the leaderboard's copy)."""

from __future__ import annotations

from pathlib import Path

from hpbench.errors import HpbenchError
from hpbench.evaluation.conformance import verdict
from hpbench.evaluation.evaluate import evaluate
from hpbench.evaluation.speed import bench_section
from hpbench.evaluation.records import ResultRecord
from hpbench.evaluation.report import results_table
from hpbench.leaderboard.rows import leaderboards_dir
from hpbench.models.speed import speed_table
from hpbench.protocols import Protocol, file_protocol, load_protocol


def run(model: str, protocol: str | None = None, test: str | None = None, out: str | None = None,
        record: str | None = None, **options) -> int:
    if (protocol is None) == (test is None):
        raise HpbenchError("name a protocol (--protocol p1) or one prepared file (--test data/mine.h5), not both")
    if test is not None:
        if record is not None:
            raise HpbenchError("--record ranks a record under its protocol; a --test file has none")
        protocol, options["data_dir"] = file_protocol(test, options.pop("boxes", None))
    save_predictions, analysis = options.pop("save_predictions", None), options.pop("analysis", None)
    timed = options.pop("bench", False)
    evaluation = evaluate(model, protocol, **options)
    result = evaluation.record
    if timed:  # the speed section of the model scored, at the input size scored, on the device scored
        result.speed = bench_section(evaluation.model, input_size=result.evaluation.input_size,
                                     device=result.evaluation.device)
        print(speed_table(result.speed))
    if analysis:
        evaluation.draw(analysis)
    report(result, protocol if isinstance(protocol, Protocol) else load_protocol(protocol), out, record)
    if save_predictions:
        print(f"predictions: {evaluation.write_predictions(save_predictions)}")
    return 0


def report(result: ResultRecord, protocol: Protocol, out: str | None, record: str | None) -> int:
    """Print the table and the leaderboard's verdict; write the record (and with ``record``, the
    leaderboard's copy, under ``record`` or leaderboards/results/)."""
    print(results_table(result))
    print(verdict(result, protocol))
    print(f"record: {result.write(out or result.default_path)}")
    if record is not None:
        folder = Path(record) if record else leaderboards_dir() / "results"
        print(f"leaderboard record: {result.write(result.leaderboard_path(folder))} (then: hpbench leaderboard build)")
    return 0
