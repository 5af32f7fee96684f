"""What is scored: head pose or body pose, each one module of this package behind one interface.

A protocol names its ``task``; ``TASKS.get(protocol.task)`` is the ``Task`` that turns a protocol's
selections into Datasets, runs a model over them, scores the predictions, computes its trivial
baseline (the training mean pose), writes the per-sample predictions, draws its pictures and builds
its training run. ``hpbench evaluate``, ``train``, the search, ``compare`` and the leaderboard call
this interface and never branch on the task's name. Adding a task is adding one module here with
its ``TASKS.register`` call; the registry imports every module of the package on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError
from hpbench.metrics import Column
from hpbench.registry import Registry

logger = logging.getLogger(__name__)


CHANGES = ("input_size", "resize_kernel", "swap_channels", "box_change", "degrade")


@dataclass(frozen=True)
class EvaluationOptions:
    """What a user may change about an evaluation (each recorded); a task names the ones it takes."""

    crop: str | None = None  # another crop rule than the protocol's
    boxes: str | None = None  # another box source ("reference": each dataset's own)
    ensemble: Any = None  # hpbench.models.ensemble.EnsembleSpec: an RvC model as KD's ensemble
    model_preprocessing: bool = False  # crop rule and input size as the model file records them
    decode: str | None = None  # belief maps to joints: "parabola" or "argmax"
    cache: bool = True  # crops from the crop cache where the crop rule allows it
    # one controlled change at a time (hpbench.evaluation.sensitivity), recorded as ``changes``
    input_size: int | None = None  # another input size than the protocol's
    resize_kernel: str | None = None  # another resize kernel than the model's
    swap_channels: bool = False  # the model fed BGR for RGB (or the other way)
    box_change: Any = None  # hpbench.data.perturb.BoxChange
    degrade: Any = None  # hpbench.data.perturb.Degradation

    def given(self) -> list[str]:
        """The options set to something else than their default (``cache`` aside: it changes no number)."""
        return [name for name in ("crop", "boxes", "ensemble", "model_preprocessing", "decode", *CHANGES)
                if getattr(self, name) not in (None, False)]

    def changes(self) -> dict[str, Any] | None:
        """The controlled changes given, as a record keeps them (None: none)."""
        made = {name: getattr(self, name) for name in CHANGES if getattr(self, name) not in (None, False)}
        return {name: value if isinstance(value, (int, str, bool)) else str(value) for name, value in made.items()} \
            or None


@dataclass
class Setup:
    """How one evaluation runs: the preprocessing and crop rule it uses, the predictor it calls, and
    the settings it records besides them (hpbench.evaluation.records.EvaluationSettings)."""

    preprocessing: Any  # hpbench.data.transforms.Preprocessing
    crop: str
    predictor: Any  # what the task's ``predict`` runs: a callable with its convention, or a module
    settings: dict = field(default_factory=dict)


class Task:
    """The interface of a task. ``name`` is what a protocol's ``task:`` says, ``title`` what messages
    call it; ``missing_face`` the rules a protocol may name for a sample without its box (the first
    is the default); ``angle_filter`` whether a protocol's ``filter`` limit applies; ``options`` the
    EvaluationOptions it takes; ``columns`` what its tables show after the metrics; ``counts`` the
    count columns of its leaderboards; ``kept`` the columns its leaderboard CSV keeps after the
    primary metric's (they may be blank); ``file_convention`` the convention of a predictions file's
    values by default."""

    name = ""
    title = ""
    missing_face: tuple[str, ...] = ()
    angle_filter = False
    options: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    counts: tuple[Column, ...] = ()
    kept: tuple[Column, ...] = ()
    file_convention = ""  # how a predictions file's values read where the user names no convention

    def check_model(self, model, protocol) -> None:
        """A model of another task is refused: one line naming both."""
        if model.task != self.name:
            raise HpbenchError(f"{model.path} is a {TASKS.get(model.task).title} model ({model.arch}); protocol "
                               f"{protocol.name} scores {self.title}")

    def check_options(self, options: EvaluationOptions, protocol) -> None:
        for name in options.given():
            if name not in self.options:
                raise HpbenchError(f"--{name.replace('_', '-')} does not apply to protocol {protocol.name}, which "
                                   f"scores {self.title}")

    # evaluation -------------------------------------------------------------------------------
    def setup(self, model, protocol, options: EvaluationOptions) -> Setup:
        """How a loaded model (hpbench.models.loading.LoadedModel) is run under the protocol."""
        raise NotImplementedError

    def predictor(self, module, convention: str = "hpbench"):
        """The predictor of a module being trained (validation), with the evaluation's defaults."""
        raise NotImplementedError

    def dataset_of(self, selection, protocol, preprocessing=None, crop: str | None = None, boxes: str | None = None,
                   cache: bool = False, workers: int = 0, progress: bool = False):
        """``dataset`` with the protocol's settings (Protocol.datasets): its crop rule and input size
        with ImageNet's normalisation unless ``preprocessing``; an override of the crop or boxes is said."""
        options = EvaluationOptions(crop=crop, boxes=boxes, cache=cache)
        self.check_options(options, protocol)
        for name, value, own in (("crop rule", crop, protocol.crop), ("box source", boxes, selection.entry.boxes)):
            if value is not None and value != own:
                logger.warning(f"{protocol.name} {selection.dataset}: {name} {value} instead of the protocol's {own}")
        setup = Setup(preprocessing or Preprocessing(input_size=protocol.input_size), crop or protocol.crop, None)
        return self.dataset(selection, setup, protocol, options, workers, progress)

    def dataset(self, selection, setup: Setup, protocol, options: EvaluationOptions, workers: int = 0,
                progress: bool = True):
        """The torch Dataset of one selection (hpbench.protocols.Selection) as the setup crops it."""
        raise NotImplementedError

    def predict(self, dataset, selection, predictor, device: str, batch_size: int, workers: int,
                progress: bool = True):
        """The model's predictions over one Dataset, in order, checked (an object with ``selection``)."""
        raise NotImplementedError

    def score(self, predictions, protocol):
        """The protocol's metrics and counts of one test set (hpbench.evaluation.records.DatasetResult)."""
        raise NotImplementedError

    def handed_out(self, selection, protocol) -> list[dict]:
        """What ``hpbench protocols keys`` writes of one test set for predictions made elsewhere: per
        sample its key and what the protocol crops (head pose: the box, with the fallback rule applied)."""
        raise NotImplementedError

    def rows_of(self, predictions, selection, convention: str | None) -> list[dict]:
        """A mapping key → values (Protocol.score) as a predictions file's rows (``from_file`` reads them)."""
        raise NotImplementedError

    def from_file(self, path, selection, rows: list[dict], protocol, convention: str | None):
        """The predictions of one test set read from a predictions file's rows (hpbench.evaluation.
        predictions), in the object ``predict`` returns, for ``score``."""
        raise NotImplementedError

    def baseline(self, protocol, data_dir, predictions: list) -> tuple[dict[str, dict[str, float]], str]:
        """The protocol's metrics on each test set of predicting the training split's mean pose, and what
        that mean was taken from (or why there is none)."""
        raise NotImplementedError

    def draw(self, predictions, dataset, title: str, stem) -> list:
        """The pictures of ``hpbench evaluate --analysis`` for one test set (paths from ``stem``)."""
        raise NotImplementedError

    def write_predictions(self, path, predictions: list) -> None:
        """The per-sample predictions of every test set as one CSV file."""
        raise NotImplementedError

    def describe(self, record) -> str:
        """What a printed table's title says of how the record's model was run, beyond crop and size."""
        raise NotImplementedError

    def notes(self, record) -> list[str]:
        """The lines a printed table ends with (errors by range, the trivial baseline, per joint …)."""
        raise NotImplementedError

    # training ---------------------------------------------------------------------------------
    def training_run(self, recipe, protocol, model, data_dir, pretrained, processes, workers: int,
                     progress: bool, cache: bool):
        """The hpbench.training.loop.Run of a recipe on the protocol's training split."""
        raise NotImplementedError


TASKS: Registry[Task] = Registry("task", package=__name__)


def register_task(task_class: type[Task]) -> type[Task]:
    """Register one instance of ``task_class`` under its ``name``."""
    TASKS.register(task_class.name)(task_class())
    return task_class
