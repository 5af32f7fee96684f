"""Released models in their authors' file layouts load as registered architectures and give the
authors' outputs."""

from __future__ import annotations

import torch
import torchvision
import yaml
from torch import nn

from hpbench.models.loading import load_model
from tests.conftest import run_cli


class AuthorsHopenet(nn.Module):
    """HopeNet as deep-head-pose code/hopenet.py (4b67b5c) defines it, written again here: a torchvision
    ResNet-50 trunk (Bottleneck, [3, 4, 6, 3]), AvgPool2d(7), fc_yaw / fc_pitch / fc_roll of 66 bins,
    and the vestigial fc_finetune its forward pass never uses."""

    def __init__(self):
        super().__init__()
        trunk = torchvision.models.resnet50(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(trunk, name))
        self.avgpool = nn.AvgPool2d(7)
        self.fc_yaw, self.fc_pitch, self.fc_roll = (nn.Linear(2048, 66) for _ in range(3))
        self.fc_finetune = nn.Linear(2048 + 3, 3)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
        x = x.view(x.size(0), -1)
        return self.fc_yaw(x), self.fc_pitch(x), self.fc_roll(x)


def _authors_angles(logits) -> torch.Tensor:
    """deep-head-pose code/test_hopenet.py: softmax, Σ p·idx over the 66 bins, × 3 − 99; (yaw, pitch, roll)."""
    idx = torch.arange(66, dtype=torch.float32)
    return torch.stack([(torch.softmax(z, dim=1) * idx).sum(1) * 3 - 99 for z in logits], dim=1)


def _released_snapshot(path):
    """Random weights in the authors' layout, with BatchNorm statistics of real activations (one pass in
    training mode), so that the network is as well-conditioned as a trained one."""
    torch.manual_seed(0)
    network = AuthorsHopenet()
    with torch.no_grad():
        network(torch.randn(8, 3, 224, 224))
    torch.save(network.state_dict(), path)
    return network.eval()


def test_hopenet_snapshot_loads_and_predicts_as_the_authors_code(tmp_path):
    authors = _released_snapshot(tmp_path / "hopenet_robust_alpha1.pkl")
    loaded = load_model(tmp_path / "hopenet_robust_alpha1.pkl", arch="hopenet.resnet50")
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        trunk = authors.layer4(authors.layer3(authors.layer2(authors.layer1(
            authors.maxpool(authors.relu(authors.bn1(authors.conv1(images))))))))
        assert torch.equal(loaded.module.backbone(images), trunk)  # every trunk weight where it belongs
        logits = authors(images)
        torch.testing.assert_close(loaded.module(images), torch.stack(logits, dim=1), atol=1e-5, rtol=0)
        ours = loaded.predict(images)
    assert loaded.convention == "hopenet" and ours.shape == (2, 3)
    # the same angles up to float32 rounding: Σ p·(3·idx − 99) here, 3·Σ p·idx − 99 there (8 steps of 1e-6 at 14°)
    torch.testing.assert_close(ours, _authors_angles(logits), atol=1e-5, rtol=2e-6)


def test_hopenet_snapshot_evaluates_through_the_cli(prepared_aflw2000, tmp_path, capsys):
    _released_snapshot(tmp_path / "snapshot.pkl")
    protocol = tmp_path / "p.yaml"
    protocol.write_text(yaml.safe_dump({
        "name": "snapshot-check", "version": 1, "changelog": [{"version": 1}], "task": "headpose", "crop": "kd",
        "input_size": 64, "metrics": ["mae"], "filter": {"limit": 99},
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "snapshot.pkl", "--arch", "hopenet.resnet50",
                             "--protocol", protocol, "--data", prepared_aflw2000.parent, "--workers", "0",
                             "--out", tmp_path / "record.json")
    assert code == 0, err
    assert "aflw2000" in out
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "snapshot.pkl", "--arch", "hopenet.resnet18",
                           "--protocol", protocol, "--data", prepared_aflw2000.parent, "--workers", "0")
    assert code == 1 and "do not fit hopenet.resnet18" in err
