"""Scoring a predictions file under a protocol (``hpbench score``, ``hpbench.score``): the rows read by
the protocol's task (hpbench.evaluation.predictions for the file's rules), scored, and a record like
``evaluate``'s with ``model.kind: predictions`` and the file's sha256.

The file says nothing of how its predictions were made: the record names the protocol's crop, input
size and boxes, which ``hpbench protocols keys`` hands out with the keys, and the leaderboard notes
that they are the file's producer's to keep."""

from __future__ import annotations

from pathlib import Path

from hpbench.evaluation.evaluate import Evaluation
from hpbench.evaluation.predictions import read_rows, rows_by_dataset
from hpbench.evaluation.records import PREDICTIONS, EvaluationSettings, ModelInfo, ResultRecord, protocol_ref
from hpbench.format import check_unchanged
from hpbench.protocols import Protocol, load_protocol, require_samples, select
from hpbench.provenance import environment, file_sha256, utc_now
from hpbench.tasks import TASKS



def score_predictions(predictions, protocol, data_dir="data", convention: str | None = None) -> Evaluation:
    """The record of a predictions file (CSV or JSON, hpbench.evaluation.predictions) on the protocol's
    test split; ``convention``: how its head-pose values read (hpbench's angles by default)."""
    path = Path(predictions)
    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    task = TASKS.get(protocol.task)
    selections = require_samples(select(protocol, protocol.test_split, data_dir), protocol, protocol.test_split)
    grouped = rows_by_dataset(path, read_rows(path), [s.dataset for s in selections])
    results, scored = {}, []
    for selection in selections:
        made = task.from_file(path, selection, grouped[selection.dataset], protocol, convention)
        results[selection.dataset] = task.score(made, protocol)
        scored.append(made)
    for selection in selections:
        check_unchanged(selection.path)
    baseline, _ = task.baseline(protocol, data_dir, scored)
    for dataset, scores in baseline.items():
        results[dataset].mean_predictor_scores = scores
    used = convention or task.file_convention
    record = ResultRecord(
        protocol_ref(protocol, results),
        ModelInfo(path.name, file_sha256(path), PREDICTIONS, used, PREDICTIONS),
        EvaluationSettings(protocol.crop, protocol.input_size, device="none", batch_size=1),
        environment=environment(), date=utc_now(), results=results)
    return Evaluation(record, task, scored, [])
