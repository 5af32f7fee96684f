"""``hpbench score PREDICTIONS --protocol P``: a predictions file scored; the table, the record (and
the leaderboard's copy)."""

from __future__ import annotations

from hpbench.commands.evaluate import report
from hpbench.evaluation.score import score_predictions
from hpbench.protocols import load_protocol


def run(predictions: str, protocol: str, data_dir: str = "data", convention: str | None = None,
        out: str | None = None, record: str | None = None) -> int:
    protocol = load_protocol(protocol)
    return report(score_predictions(predictions, protocol, data_dir, convention).record, protocol, out, record)
