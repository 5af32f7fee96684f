"""The training loop is task-generic: a heatmap model, a multi-task model with a self-supervised head
and a small head over cached features each train through ``fit`` as they are, and resume."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from hpbench.models.checkpoint import Checkpoint
from hpbench.training.loop import Processes, Run, fit
from tests.conftest import said


class Items(Dataset):
    """Dict items made by ``make(generator)``, the same every epoch."""

    def __init__(self, make, count: int = 64):
        generator = torch.Generator().manual_seed(0)
        self.items = [make(generator) for _ in range(count)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def _heatmap_item(generator):
    """An image with one bright pixel; the target is a Gaussian belief map around it (CPM-style)."""
    y, x = (int(v) for v in torch.randint(2, 14, (2,), generator=generator))
    image = torch.zeros(1, 16, 16)
    image[0, y, x] = 1.0
    grid_y, grid_x = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    heatmap = torch.exp(-((grid_y - y) ** 2 + (grid_x - x) ** 2) / 4.0)[None]
    return {"image": image, "heatmaps": heatmap}


def _heatmap_loss(network, batch, device):
    return F.mse_loss(network(batch["image"].to(device)), batch["heatmaps"].to(device))


class MultiTask(nn.Module):
    """A shared trunk, a regression head and a self-supervised classification head (HMTL-style)."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, 32), nn.ReLU())
        self.pose, self.puzzle = nn.Linear(32, 3), nn.Linear(32, 4)

    def forward(self, x):
        features = self.trunk(x)
        return self.pose(features), self.puzzle(features)


def _multitask_item(generator):
    x = torch.randn(8, generator=generator)
    return {"image": x, "ypr": x[:3] * 10, "tile": torch.tensor(int(x[3] > 0) + 2 * int(x[4] > 0))}


def _multitask_loss(network, batch, device):
    pose, puzzle = network(batch["image"].to(device))
    return F.mse_loss(pose, batch["ypr"].to(device)) / 100 + F.cross_entropy(puzzle, batch["tile"].to(device))


def _features_item(generator):
    features = torch.randn(16, generator=generator)
    return {"features": features, "ypr": features[:3] * 20}


def _features_loss(network, batch, device):
    return F.l1_loss(network(batch["features"].to(device)), batch["ypr"].to(device))


CASES = {
    "heatmaps": (lambda: nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 1, 5, padding=2)),
                 _heatmap_item, _heatmap_loss),
    "multi-task": (MultiTask, _multitask_item, _multitask_loss),
    "cached features": (lambda: nn.Linear(16, 3), _features_item, _features_loss),
}


def _run(case: str, epochs: int) -> Run:
    make_model, make_item, loss = CASES[case]
    torch.manual_seed(0)
    model = make_model()
    return Run(model=model, train_set=Items(make_item), loss=loss, parameter_groups={"all": list(model.parameters())},
               optimizer={"name": "adam", "lr": 1e-2}, epochs=epochs, batch_size=16, recipe={"case": case, "epochs": epochs},
               validate=lambda m: {"parameters": float(sum(p.numel() for p in m.parameters()))})


@pytest.mark.parametrize("case", CASES)
def test_the_loop_trains_any_objective_and_resumes(case, tmp_path):
    processes = Processes(0, 1, "cpu")
    with said() as lines:
        fit(_run(case, 4), tmp_path, processes, workers=0)
    history = Checkpoint.load(tmp_path / "model.pt").history
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] and history[-1]["loss"] < history[0]["loss"]
    assert "parameters" in history[0] and (tmp_path / "training.json").is_file()
    with said() as lines:
        fit(_run(case, 6), tmp_path, processes, workers=0)  # more epochs: resumes after epoch 4
    assert any(line.startswith("resuming") for line in lines)
    resumed = Checkpoint.load(tmp_path / "model.pt").history
    assert resumed[:4] == history and [h["epoch"] for h in resumed[4:]] == [5, 6]


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    """A validation loss of 5, 3, 4, 6, 7, … with patience 2 stops after epoch 4; model.pt holds epoch 2's
    weights and a second call leaves it as it is."""
    losses = iter([5.0, 3.0, 4.0, 6.0, 7.0, 8.0])
    weights = []

    def validate(model):
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"validation_loss": next(losses)}

    run = _run("cached features", 6)
    run.validate, run.patience = validate, 2
    with said() as lines:
        fit(run, tmp_path, Processes(0, 1, "cpu"), workers=0)
    history = Checkpoint.load(tmp_path / "model.pt").history
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] and any("early stop" in line for line in lines)
    state = Checkpoint.load(tmp_path / "model.pt").state_dict
    assert all(torch.equal(state[k], weights[1][k]) for k in state)
    with said() as more:
        fit(run, tmp_path, Processes(0, 1, "cpu"), workers=0)
    lines += more
    assert "left as it is" in lines[-1]
