"""``hpbench.evaluate`` and ``hpbench.score``: the two calls a researcher's own code makes.

    import hpbench
    result = hpbench.evaluate(model, "p1", data="data", convention="hpbench")
    print(result.record.results["aflw2000"].metrics["mae"])

``model`` is a model file, a torch module, a plain callable (numpy batches in, values out) or a
loaded model (hpbench.models.objects); ``score`` takes a predictions file made anywhere
(hpbench.evaluation.predictions). Both return an ``Evaluation``: the ResultRecord and the per-sample
predictions; writing files is the caller's (``result.record.write(path)``,
``result.write_predictions(path)``). They are ``hpbench evaluate`` and ``hpbench score`` without the
printing: the same code, the same numbers.
"""

from __future__ import annotations

from hpbench.evaluation.evaluate import Evaluation
from hpbench.evaluation.evaluate import evaluate as evaluate_model
from hpbench.evaluation.score import score_predictions
from hpbench.evaluation.sensitivity import GROUPS, Sensitivity
from hpbench.evaluation.sensitivity import sensitivity as run_sensitivity


def evaluate(model, protocol, data="data", *, convention: str | None = None, preprocessing=None,
             device: str | None = None, batch_size: int = 64, workers: int = 0, progress: bool = True,
             **options) -> Evaluation:
    """Score ``model`` on the protocol's test sets (a name such as "p1", a YAML file or a Protocol) in
    the prepared files under ``data``. ``convention``: how the model's outputs read (hpbench.pose);
    ``preprocessing``: a Preprocessing or a dict of its fields (default: the protocol's input size,
    ImageNet's normalisation, RGB). ``options``: those of ``hpbench evaluate`` (crop, boxes, ensemble,
    decode, cache, arch, trust, …), each recorded."""
    return evaluate_model(model, protocol, data_dir=data, convention=convention, preprocessing=preprocessing,
                          device=device, batch_size=batch_size, workers=workers, progress=progress, **options)


def score(predictions, protocol, data="data", *, convention: str | None = None) -> Evaluation:
    """Score a predictions file (CSV or JSON) on the protocol's test sets; ``convention``: how its
    head-pose values read (hpbench's yaw, pitch, roll by default; a matrix convention for r11 … r33)."""
    return score_predictions(predictions, protocol, data, convention)


def sensitivity(model, protocol, data="data", *, groups=GROUPS, **options) -> Sensitivity:
    """How much each evaluation choice moves ``model``'s score under ``protocol`` (hpbench.evaluation.
    sensitivity): ``result.base.record`` holds the record with its ``sensitivity`` section,
    ``sensitivity_table(result)`` the printed report."""
    return run_sensitivity(model, protocol, data, groups, **options)
