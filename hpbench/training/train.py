"""``hpbench train RECIPE --protocol N``: the registered baselines through the shared loop.

The recipe (hpbench.training.recipe) names the model, loss and optimiser; the protocol's task
(hpbench.tasks) builds the Run from its ``train`` split (hpbench.training.headpose,
hpbench.training.bodypose), validated after every epoch on its ``validation`` split by the same code as
``hpbench evaluate``. ``--pretrained`` is a local ImageNet file for the backbone or an hpbench
checkpoint to fine-tune from (CPM-SSL: the layers its ``transfer`` section names). The final
``OUT/model.pt`` is an hpbench checkpoint that ``hpbench evaluate`` reads.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

from hpbench.errors import HpbenchError
from hpbench.locks import output_lock
from hpbench.models import MODELS, create_model
from hpbench.models.checkpoint import Checkpoint, is_checkpoint, read_torch_file
from hpbench.models.cpm import transferable
from hpbench.parallel import capped_workers
from hpbench.paths import output_path
from hpbench.protocols import Protocol, load_protocol
from hpbench.tasks import TASKS
from hpbench.training.loop import Processes, fit, start_processes
from hpbench.training.losses import LOSSES
from hpbench.training.recipe import Recipe, checked_keywords, load_recipe


def fine_tune_from(model, content: dict, path, say, only=None) -> set[str]:
    """Copy into ``model`` every tensor of an hpbench checkpoint (``content``, read from ``path``) whose
    name and shape it shares (an SSL pre-training, another run) and, given ``only(name)``, that it
    accepts; the rest keep their initial values. None fitting is an error. Returns the names copied."""
    state = Checkpoint.from_dict(content, path).state_dict
    own = model.state_dict()
    taken = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and (only is None or only(k))}
    if not taken:
        raise HpbenchError(f"--pretrained {path}: no tensor of this checkpoint fits {model.arch}")
    model.load_state_dict(taken, strict=False)
    say(f"{model.arch}: {len(taken)} of its {len(own)} tensors from {path} "
        f"({len(own) - len(taken)} keep their initial values, {len(state) - len(taken)} of the file's unused)")
    return set(taken)


def train(recipe_path, protocol_name, data_dir="data", out=None, overrides=(), pretrained=None, device=None,
          workers: int = 2, progress: bool = True, restart: bool = False, cache: bool = True) -> Path:
    """Train a recipe on a protocol's training split; returns the final checkpoint's path. ``cache``:
    crops from the crop cache where the crop rule allows it (hpbench.data.crop_cache)."""
    recipe = load_recipe(recipe_path, tuple(overrides))
    protocol = load_protocol(protocol_name)
    out = Path(out or output_path("runs", f"{recipe.name}-{protocol.name}"))
    processes = start_processes(device)
    workers = capped_workers(workers) if workers else 0
    with output_lock(out) if processes.main else nullcontext():  # one run per folder, refused at once
        return _train(recipe, protocol, data_dir, out, pretrained, processes, workers, progress, restart, cache)


def _train(recipe: Recipe, protocol: Protocol, data_dir, out: Path, pretrained, processes: Processes, workers: int,
           progress: bool, restart: bool, cache: bool) -> Path:
    say = processes.say
    torch.manual_seed(recipe.seed)
    content = read_torch_file(pretrained) if pretrained and Path(pretrained).is_file() else None
    checkpoint = is_checkpoint(content)
    try:
        model = create_model(recipe.arch, pretrained=None if checkpoint else pretrained,
                             **checked_keywords("model", MODELS.get(recipe.arch), recipe.model))
    except (TypeError, ValueError) as err:  # a value the family refuses (a decoding variant, a size)
        raise HpbenchError(f"recipe {recipe.name}: its model section does not build {recipe.arch} ({err})") from None
    task = TASKS.get(protocol.task)
    trains = LOSSES.get(recipe.loss["name"]).task
    if model.task != task.name or trains != task.name:
        what = TASKS.get(model.task if model.task != task.name else trains).title
        raise HpbenchError(f"recipe {recipe.name} trains {what} ({recipe.arch}, loss {recipe.loss['name']}); protocol "
                           f"{protocol.name} scores {task.title}")
    if recipe.transfer is not None and not checkpoint:
        raise HpbenchError(f"recipe {recipe.name} transfers layers of a jigsaw pre-training: pass --pretrained "
                           "runs/cpm-jigsaw-pretrain-<protocol>/model.pt")
    if recipe.transfer is not None:  # CPM-SSL: the report's layers of a jigsaw checkpoint, frozen if fixed
        layers = recipe.transfer.get("layers", "stage1")
        taken = fine_tune_from(model, content, pretrained, say, only=lambda name: transferable(name, layers))
        if recipe.transfer.get("fixed", False):
            for name, parameter in model.named_parameters():
                parameter.requires_grad_(name not in taken)
        say(f"transferred the {layers} layers, {'fixed' if recipe.transfer.get('fixed') else 'fine-tuned'}")
    elif checkpoint:
        fine_tune_from(model, content, pretrained, say)
    else:
        say(f"{recipe.arch}: backbone from {pretrained}" if pretrained else
            f"{recipe.arch}: the backbone starts from random weights (no --pretrained ImageNet file)")
    run = task.training_run(recipe, protocol, model, data_dir, pretrained, processes, workers, progress, cache)
    return fit(run, out, processes, workers, restart, progress)
