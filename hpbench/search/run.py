"""``hpbench search RECIPE --protocol P --optimizer O --budget N``: the whole search, and its winner.

1. The backbone (``--backbone FILE``: an hpbench checkpoint, or a state dict with ``--arch``; or the
   recipe's architecture, with ``--pretrained`` weights or seeded random ones) is cut at the layer.
2. The features of the protocol's training and validation splits are computed once, with the
   protocol's crop, boxes and input size and the backbone's normalisation, and cached
   (hpbench.search.features).
3. The optimiser spends the budget on the objective (hpbench.search.objective); ``OUT/<optimizer>.jsonl``
   logs every evaluation, and a rerun resumes from it.
4. ``OUT/convergence.png`` and ``OUT/pareto.png`` picture every optimiser's log in ``OUT``;
   ``OUT/search.json`` sums the run up.
5. The best candidate is retrained for ``retrain.epochs``, joined to the backbone as a
   ``searched.head`` model (``OUT/winner/model.pt``) and scored by ``hpbench evaluate`` on the
   protocol's test split (``OUT/winner/result.json``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from hpbench.data.headpose import dataset_for
from hpbench.errors import HpbenchError
from hpbench.evaluation.evaluate import evaluate
from hpbench.evaluation.report import results_table
from hpbench.io import write_text_atomic
from hpbench.locks import output_lock
from hpbench.models import create_model
from hpbench.models.base import HeadPoseModel
from hpbench.models.checkpoint import Checkpoint
from hpbench.models.inference import checked_device
from hpbench.models.loading import load_model
from hpbench.paths import output_path
from hpbench.protocols import load_protocol, select
from hpbench.provenance import file_sha256
from hpbench.search.features import FeatureRequest, Features, TrunkCut, cached_features
from hpbench.search.objective import Objective, read_log, train_head
from hpbench.search.optimizers import OPTIMIZERS, check_optimizer, run_optimizer
from hpbench.search.plots import plot_convergence, plot_pareto
from hpbench.search.recipe import SearchRecipe, load_search_recipe
from hpbench.tasks import TASKS
from hpbench.tasks.headpose import HeadPose

logger = logging.getLogger(__name__)


def _backbone(recipe: SearchRecipe, backbone: str | None, arch: str | None, pretrained: str | None, trust: bool,
              device: str) -> tuple[HeadPoseModel, str, dict]:
    """(the backbone module in eval mode, what identifies its weights, the arch and config that rebuild it)."""
    if backbone is not None:
        loaded = load_model(backbone, arch=arch, trust=trust, device=device)
        if not isinstance(loaded.module, HeadPoseModel) or loaded.kind not in ("checkpoint", "state_dict"):
            raise HpbenchError(f"{backbone} is a {loaded.kind} file: a search backbone must be an hpbench checkpoint or "
                               "a state dict with --arch, so that the winner can be rebuilt from it")
        return loaded.module.eval(), loaded.sha256, {"arch": loaded.arch, "config": dict(loaded.config)}
    arch = arch or recipe.backbone.get("arch")
    if not arch:
        raise HpbenchError(f"search recipe {recipe.name} names no backbone architecture: pass --backbone FILE or --arch")
    config = dict(recipe.backbone.get("config") or {})
    torch.manual_seed(recipe.seed)
    module = create_model(arch, **config, **({"pretrained": pretrained} if pretrained else {}))
    identity = file_sha256(pretrained) if pretrained else f"{arch} {json.dumps(config, sort_keys=True)} random seed {recipe.seed}"
    return module.to(device).eval(), identity, {"arch": arch, "config": config}


def split_features(protocol, split: str, data_dir, trunk: TrunkCut, preprocessing, backbone_id: str, device: str,
                   workers: int, progress: bool) -> Features:
    """The features of one split of the protocol (its selections in order), from the cache or computed now."""
    selections = select(protocol, split, data_dir)
    datasets = [dataset_for(s, protocol.crop, preprocessing, None, protocol.missing_face, progress=progress)
                for s in selections]
    request = FeatureRequest(backbone_id, trunk.layer, f"{protocol.name} v{protocol.version}", split,
                             tuple((s.dataset, s.content_sha256, s.keys_sha256) for s in selections),
                             ",".join(d.box_source for d in datasets), protocol.crop,
                             json.dumps(asdict(preprocessing), sort_keys=True))
    return cached_features(request, datasets, trunk, device, workers=workers, progress=progress)


def search(recipe_name: str, protocol_name: str, optimizer: str = "cmaes", budget: int | None = None,
           backbone: str | None = None, arch: str | None = None, pretrained: str | None = None,
           layer: str | None = None, data_dir="data", out=None, overrides: tuple[str, ...] = (),
           retrain_epochs: int | None = None, device: str = "cpu", workers: int = 0, trust: bool = False,
           progress: bool = True) -> dict:
    """Run the search (module docstring); returns the summary written to ``OUT/search.json``."""
    check_optimizer(optimizer)
    device = checked_device(device)
    recipe = load_search_recipe(recipe_name, overrides)
    protocol = load_protocol(protocol_name)
    if not isinstance(TASKS.get(protocol.task), HeadPose) or not {"train", "validation"} <= set(protocol.splits):
        raise HpbenchError(f"protocol {protocol.name} has no train and validation splits of head pose: the search "
                           "trains on one and scores on the other (e.g. 300wlp-7030, synthetic-7030)")
    budget = int(budget or recipe.budget)
    if budget < 1:
        raise HpbenchError(f"--budget {budget}: at least one evaluation")
    out = Path(out or output_path("runs", f"search-{recipe.name}-{protocol.name}"))
    with output_lock(out):  # one search per folder: its logs are appended to
        module, backbone_id, spec = _backbone(recipe, backbone, arch, pretrained, trust, device)
        layer = layer or recipe.backbone.get("layer")
        if not layer:
            raise HpbenchError(f"search recipe {recipe.name} names no layer: pass --layer (a name of the backbone's modules)")
        trunk = TrunkCut(module, layer)
        preprocessing = replace(module.preprocessing, input_size=protocol.input_size)
        features = {split: split_features(protocol, split, data_dir, trunk, preprocessing, backbone_id, device, workers,
                                          progress) for split in ("train", "validation")}
        logger.info(f"search {recipe.name}: {optimizer}, budget {budget}, features {features['train'].shape} "
                    f"({len(features['train'].values):,} train / {len(features['validation'].values):,} validation)")
        objective = Objective(features["train"], features["validation"], recipe.candidate, recipe.fitness,
                              out / f"{optimizer}.jsonl", budget, recipe.seed)
        run_optimizer(optimizer, objective, recipe.seed)
        best = objective.best()
        logs = {p.stem: read_log(p) for p in sorted(out.glob("*.jsonl")) if p.stem in OPTIMIZERS}
        pictures = [str(plot_convergence(logs, out / "convergence.png")), str(plot_pareto(logs, out / "pareto.png"))]
        summary = {"recipe": asdict(recipe), "protocol": {"name": protocol.name, "version": protocol.version},
                   "optimizer": optimizer, "budget": budget, "evaluations": objective.calls,
                   "trained": sum(not e.get("cached") for e in objective.entries),
                   "seconds": round(sum(e["seconds"] for e in objective.entries), 1),
                   "backbone": {**spec, "weights": backbone_id, "layer": layer, "features": list(features["train"].shape),
                                "counts": {split: len(f.values) for split, f in features.items()}},
                   "best": best, "pictures": pictures}
        epochs = recipe.retrain.get("epochs", 0) if retrain_epochs is None else retrain_epochs
        if epochs:
            summary["winner"] = _retrain_winner(best, features, recipe, spec, module, layer, protocol, out, int(epochs),
                                                data_dir, device, workers, progress)
        write_text_atomic(out / "search.json", json.dumps(summary, indent=2, default=str) + "\n")
        logger.info(f"best: fitness {best['fitness']:.3f}, validation MAE {best['val_mae']:.2f}°, {best['mflops']:.2f} MFLOPs, "
                    f"{best['params']:,} parameters, {best['memory_mb']:.3f} MB: {best['key']}\nlog: {objective.log_path}\n"
                    f"pictures: {', '.join(pictures)}")
        return summary


def _retrain_winner(best: dict, features: dict, recipe: SearchRecipe, spec: dict, backbone: torch.nn.Module, layer: str,
                    protocol, out: Path, epochs: int, data_dir, device: str, workers: int, progress: bool) -> dict:
    settings = {**recipe.candidate, **{k: v for k, v in recipe.retrain.items() if k != "epochs"}}
    logger.info(f"retraining the winner for {epochs} epochs: {best['key']}")
    head, history = train_head(best["genome"], features["train"], features["validation"], settings, recipe.seed,
                               epochs=epochs)
    model = create_model("searched.head", backbone=spec, layer=layer, genome=best["genome"],
                         in_channels=features["train"].shape[0], input_size=protocol.input_size)
    missing = model.backbone.load_state_dict(backbone.state_dict(), strict=False).missing_keys  # the kept modules
    if missing:
        raise HpbenchError(f"the searched model's backbone lacks {', '.join(missing[:3])} from the backbone searched over")
    model.head.load_state_dict(head.state_dict())
    path = Checkpoint.of_model(model, recipe={"search": recipe.name, "retrain_epochs": epochs, **settings},
                               protocol={"name": protocol.name, "version": protocol.version}, history=history
                               ).save(out / "winner" / "model.pt")
    record = evaluate(path, protocol.name, data_dir=data_dir, device=device, workers=workers, progress=progress).record
    record_path = record.write(out / "winner" / "result.json")
    logger.info(results_table(record))
    return {"checkpoint": str(path), "record": str(record_path), "val_mae": float(np.min([h["val_mae"] for h in history])),
            "test": {name: result.metrics.get("mae") for name, result in record.results.items()}}
