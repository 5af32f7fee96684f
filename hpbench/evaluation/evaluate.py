"""``hpbench evaluate MODEL --protocol N``: predictions on a protocol's test sets, metrics, a record.

Task-neutral: the protocol's task (hpbench.tasks) makes the Datasets, runs the model, scores the
predictions with the protocol's ``metrics`` list (hpbench.metrics) and computes the trivial baseline;
this module loads the model, checks that it fits, loops over the test sets, re-checks the prepared
files and returns a ``ResultRecord`` (hpbench.evaluation.records). Training's validation scores through
the same task methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpbench.errors import HpbenchError
from hpbench.evaluation.records import EvaluationSettings, ResultRecord, record_head
from hpbench.format import check_unchanged
from hpbench.models.ensemble import EnsembleSpec
from hpbench.models.inference import checked_device, gflops
from hpbench.models.loading import LoadedModel, load_model
from hpbench.models.torchscript import FORWARD_TIMEOUT
from hpbench.parallel import capped_workers
from hpbench.paths import output_path
from hpbench.protocols import Protocol, load_protocol, require_samples, select
from hpbench.provenance import environment, utc_now
from hpbench.tasks import TASKS, EvaluationOptions, Task


@dataclass
class Evaluation:
    """What one evaluation made: the record, and per test set the task's predictions and the Dataset
    they came from (hpbench.tasks). Writing files is the caller's: ``write_predictions``, ``draw``,
    ``record.write``."""

    record: ResultRecord
    task: Task
    predictions: list
    datasets: list
    model: LoadedModel | None = None  # what was run (None: a predictions file)

    def write_predictions(self, path) -> Path:
        """The per-sample predictions of every test set as one CSV file (``hpbench score`` reads it)."""
        self.task.write_predictions(path, self.predictions)
        return Path(path)

    def draw(self, folder) -> list[Path]:
        """The task's pictures of each test set (``--analysis``) in ``folder``; a scored predictions file
        has no crops to draw on."""
        if not self.datasets:
            raise HpbenchError("--analysis draws on the crops the model saw; a predictions file brings none")
        name, model = self.record.protocol.name, self.record.model.file
        return [picture for scored, dataset in zip(self.predictions, self.datasets)
                for picture in self.task.draw(scored, dataset, f"{model} on {scored.selection.dataset} ({name})",
                                              output_path(folder, f"{name}-{scored.selection.dataset}"))]


def evaluate(model, protocol, data_dir="data", arch=None, convention=None, trust=False, device=None, batch_size=64,
             workers=2, boxes=None, crop=None, ensemble=None, progress=True, cache=True, model_preprocessing=False,
             override_convention=False, decode=None, forward_timeout=None, preprocessing=None, input_size=None,
             resize_kernel=None, swap_channels=False, box_change=None, degrade=None) -> Evaluation:
    """Score a model on the protocol's test split, with the protocol's crop rule and input size
    (``model_preprocessing``: the ones the model file records; ``crop``: another rule) and the model's
    normalisation. ``model``: a model file (hpbench.models.loading.FORMATS), a torch module or a
    plain callable with its ``convention`` and, if it declares one, its ``preprocessing``
    (hpbench.models.objects). ``protocol``: a name, a YAML file or a Protocol. ``ensemble``
    ("p=15,s=5" or an EnsembleSpec) scores an RvC model as KD's convolutional ensemble. ``cache``:
    crops from the crop cache where the crop rule allows it (hpbench.data.crop_cache); the scores are
    the same either way. ``decode`` (body pose): "parabola" (the default) or "argmax", how belief maps
    become joints. ``input_size``, ``resize_kernel``, ``swap_channels``, ``box_change`` and ``degrade``
    change one choice on purpose (hpbench.evaluation.sensitivity; recorded as ``evaluation.changes``, and
    the leaderboard shows such a record apart). An option the protocol's task does not take is an error."""
    options = EvaluationOptions(crop, boxes, EnsembleSpec.parse(ensemble) if isinstance(ensemble, str) else ensemble,
                                model_preprocessing, decode, cache, input_size, resize_kernel, swap_channels,
                                box_change, degrade)
    workers = capped_workers(workers) if workers else 0
    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    task = TASKS.get(protocol.task)
    task.check_options(options, protocol)
    device = checked_device(device)
    model = load_model(model, arch=arch, convention=convention, trust=trust, device=device,
                       override_convention=override_convention, forward_timeout=forward_timeout or FORWARD_TIMEOUT,
                       preprocessing=preprocessing)
    task.check_model(model, protocol)
    selections = require_samples(select(protocol, protocol.test_split, data_dir), protocol, protocol.test_split)
    setup = task.setup(model, protocol, options)
    results, predictions, datasets = {}, [], []
    for selection in selections:
        dataset = task.dataset(selection, setup, protocol, options, workers, progress)
        scored = task.predict(dataset, selection, setup.predictor, device, batch_size, workers, progress)
        results[selection.dataset] = task.score(scored, protocol)
        predictions.append(scored)
        datasets.append(dataset)
    for selection in selections:  # what was scored is what was checked
        check_unchanged(selection.path)
    baseline, _ = task.baseline(protocol, data_dir, predictions)
    for dataset, scores in baseline.items():
        results[dataset].mean_predictor_scores = scores
    size = setup.preprocessing.input_size
    record = ResultRecord(
        *record_head(protocol, results, model, gflops(model.predict, size, device)),
        evaluation=EvaluationSettings(setup.crop, size, setup.preprocessing.colour, device=device,
                                      batch_size=batch_size, resize_kernel=setup.preprocessing.resize_kernel,
                                      **setup.settings),
        environment=environment(),
        date=utc_now(),
        results=results,
    )
    return Evaluation(record, task, predictions, datasets, model)
