"""``hpbench evaluate MODEL --protocol N``: predictions on a protocol's test sets, metrics, a record.

Task-neutral: the protocol's task (hpbench.tasks) makes the Datasets, runs the model, scores the
predictions with the protocol's ``metrics`` list (hpbench.metrics) and computes the trivial baseline;
this module loads the model, checks that it fits, loops over the test sets, re-checks the prepared
files and returns a ``ResultRecord`` (hpbench.evaluation.records). Training's validation scores through
the same task methods.
"""

from __future__ import annotations

from pathlib import Path

from hpbench.evaluation.records import EvaluationSettings, ResultRecord, record_head
from hpbench.format import check_unchanged
from hpbench.models.ensemble import EnsembleSpec
from hpbench.models.inference import checked_device, gflops
from hpbench.models.loading import load_model
from hpbench.models.torchscript import FORWARD_TIMEOUT
from hpbench.parallel import capped_workers
from hpbench.paths import output_path
from hpbench.protocols import Protocol, load_protocol, require_samples, select
from hpbench.provenance import environment, utc_now
from hpbench.tasks import TASKS, EvaluationOptions


def evaluate(model_path, protocol_name, data_dir="data", arch=None, convention=None, trust=False, device=None,
             batch_size=64, workers=2, boxes=None, crop=None, ensemble=None, save_predictions=None,
             progress=True, cache=True, model_preprocessing=False, override_convention=False, analysis=None,
             decode=None, forward_timeout=None) -> ResultRecord:
    """Score a model file on the protocol's test split, with the protocol's crop rule and input size
    (``model_preprocessing``: the ones the model file records; ``crop``: another rule) and the model's
    normalisation. ``ensemble`` ("p=15,s=5" or an EnsembleSpec) scores an RvC model as KD's
    convolutional ensemble. ``cache``: crops from the crop cache where the crop rule allows it
    (hpbench.data.crop_cache); the scores are the same either way. ``analysis``: a folder for the
    pictures of each test set (the task's). ``decode`` (body pose): "parabola" (the default) or
    "argmax", how belief maps become joints. An option the protocol's task does not take is an error."""
    options = EvaluationOptions(crop, boxes, EnsembleSpec.parse(ensemble) if isinstance(ensemble, str) else ensemble,
                                model_preprocessing, decode, cache)
    workers = capped_workers(workers) if workers else 0
    protocol = protocol_name if isinstance(protocol_name, Protocol) else load_protocol(protocol_name)
    task = TASKS.get(protocol.task)
    task.check_options(options, protocol)
    device = checked_device(device)
    model = load_model(model_path, arch=arch, convention=convention, trust=trust, device=device,
                       override_convention=override_convention,
                       forward_timeout=forward_timeout or FORWARD_TIMEOUT)
    task.check_model(model, protocol)
    selections = require_samples(select(protocol, protocol.test_split, data_dir), protocol, protocol.test_split)
    setup = task.setup(model, protocol, options)
    results, predictions = {}, []
    for selection in selections:
        dataset = task.dataset(selection, setup, protocol, options, workers, progress)
        scored = task.predict(dataset, selection, setup.predictor, device, batch_size, workers, progress)
        results[selection.dataset] = task.score(scored, protocol)
        predictions.append(scored)
        if analysis:
            task.draw(scored, dataset, f"{Path(model_path).name} on {selection.dataset} ({protocol.name})",
                      output_path(analysis, f"{protocol.name}-{selection.dataset}"))
    for selection in selections:  # what was scored is what was checked
        check_unchanged(selection.path)
    baseline, _ = task.baseline(protocol, data_dir, predictions)
    for dataset, scores in baseline.items():
        results[dataset].mean_predictor_scores = scores
    if save_predictions:
        task.write_predictions(save_predictions, predictions)
    size = setup.preprocessing.input_size
    return ResultRecord(
        *record_head(protocol, results, model, gflops(model.predict, size, device)),
        evaluation=EvaluationSettings(setup.crop, size, setup.preprocessing.colour, device=device,
                                      batch_size=batch_size, resize_kernel=setup.preprocessing.resize_kernel,
                                      **setup.settings),
        environment=environment(),
        date=utc_now(),
        results=results,
    )
