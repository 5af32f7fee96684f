"""Released models in their authors' file layouts load as registered architectures and give the
authors' outputs."""

from __future__ import annotations

import json
from pathlib import Path

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


# ---------------------------------------------------------------------------------------------- 6DRepNet

class AuthorsRepVGGBlock(nn.Module):
    """thohemp/6DRepNet sixdrepnet/backbone/repvgg.py RepVGGBlock (training form), written again."""

    def __init__(self, in_channels, out_channels, stride, groups):
        super().__init__()
        self.in_channels, self.groups = in_channels, groups
        self.rbr_identity = nn.BatchNorm2d(in_channels) if out_channels == in_channels and stride == 1 else None
        self.rbr_dense = nn.Sequential()
        self.rbr_dense.add_module("conv", nn.Conv2d(in_channels, out_channels, 3, stride, 1, groups=groups, bias=False))
        self.rbr_dense.add_module("bn", nn.BatchNorm2d(out_channels))
        self.rbr_1x1 = nn.Sequential()
        self.rbr_1x1.add_module("conv", nn.Conv2d(in_channels, out_channels, 1, stride, 0, groups=groups, bias=False))
        self.rbr_1x1.add_module("bn", nn.BatchNorm2d(out_channels))

    def forward(self, inputs):
        id_out = 0 if self.rbr_identity is None else self.rbr_identity(inputs)
        return torch.relu(self.rbr_dense(inputs) + self.rbr_1x1(inputs) + id_out)

    def deploy_kernel_bias(self):
        """get_equivalent_kernel_bias: each branch's BN folded (_fuse_bn_tensor), the 1×1 padded to 3×3."""
        def fold(kernel, bn):
            std = (bn.running_var + bn.eps).sqrt()
            return kernel * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std

        k3, b3 = fold(self.rbr_dense.conv.weight, self.rbr_dense.bn)
        k1, b1 = fold(self.rbr_1x1.conv.weight, self.rbr_1x1.bn)
        kernel, bias = k3 + torch.nn.functional.pad(k1, [1, 1, 1, 1]), b3 + b1
        if self.rbr_identity is not None:
            input_dim = self.in_channels // self.groups
            value = torch.zeros(self.in_channels, input_dim, 3, 3)
            for i in range(self.in_channels):
                value[i, i % input_dim, 1, 1] = 1
            kid, bid = fold(value, self.rbr_identity)
            kernel, bias = kernel + kid, bias + bid
        return kernel, bias


class AuthorsSixDRepNet(nn.Module):
    """sixdrepnet/model.py SixDRepNet on create_RepVGG_B1g2 (num_blocks [4, 6, 16, 1], width multipliers
    [2, 2, 2, 4], groups 2 on RepVGG layers 2, 4 … 26), its stages renamed layer0 … layer4."""

    def __init__(self):
        super().__init__()
        in_planes, layer_index = 64, 1
        self.layer0 = AuthorsRepVGGBlock(3, in_planes, 2, 1)
        for stage, (planes, blocks) in enumerate(zip((128, 256, 512, 2048), (4, 6, 16, 1)), start=1):
            layers = []
            for stride in [2] + [1] * (blocks - 1):
                groups = 2 if layer_index in range(2, 27, 2) else 1
                layers.append(AuthorsRepVGGBlock(in_planes, planes, stride, groups))
                in_planes, layer_index = planes, layer_index + 1
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.gap = nn.AdaptiveAvgPool2d(output_size=1)
        self.linear_reg = nn.Linear(2048, 6)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.layer0(x)))))
        return _authors_ortho6d(self.linear_reg(torch.flatten(self.gap(x), 1)))


def _authors_ortho6d(poses):
    """sixdrepnet/utils.py compute_rotation_matrix_from_ortho6d, normalize_vector and cross_product."""
    def normalize(v):
        return v / torch.max(torch.sqrt(v.pow(2).sum(1)), torch.tensor([1e-8])).view(-1, 1)

    def cross(u, v):
        return torch.stack([u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1], u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2],
                            u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]], dim=1)

    x = normalize(poses[:, 0:3])
    z = normalize(cross(x, poses[:, 3:6]))
    y = cross(z, x)
    return torch.cat((x.view(-1, 3, 1), y.view(-1, 3, 1), z.view(-1, 3, 1)), 2)


def test_sixdrepnet_training_and_deploy_files_load_and_predict_as_the_authors_code(tmp_path):
    torch.manual_seed(0)
    authors = AuthorsSixDRepNet()
    with torch.no_grad():
        authors(torch.randn(4, 3, 96, 96))  # BatchNorm statistics of real activations
    authors.eval()
    torch.save({"epoch": 30, "model_state_dict": authors.state_dict()}, tmp_path / "6DRepNet_train.pth")
    deploy = {}
    for name, module in authors.named_modules():
        if isinstance(module, AuthorsRepVGGBlock):  # repvgg_model_convert: one rbr_reparam per block
            kernel, bias = module.deploy_kernel_bias()
            deploy[f"{name}.rbr_reparam.weight"], deploy[f"{name}.rbr_reparam.bias"] = kernel.detach(), bias.detach()
    deploy.update({f"linear_reg.{k}": v for k, v in authors.linear_reg.state_dict().items()})
    torch.save(deploy, tmp_path / "6DRepNet_deploy.pth")

    images = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = authors(images)
        trained = load_model(tmp_path / "6DRepNet_train.pth", arch="sixdrepnet.repvgg_b1g2")
        fused = load_model(tmp_path / "6DRepNet_deploy.pth", arch="sixdrepnet.repvgg_b1g2")
        torch.testing.assert_close(trained.predict(images), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(fused.predict(images), expected, atol=1e-4, rtol=0)  # fused in float32
        ours_fused = load_model(tmp_path / "6DRepNet_train.pth", arch="sixdrepnet.repvgg_b1g2").module.fuse()
        torch.testing.assert_close(ours_fused.predict(images), fused.predict(images), atol=1e-5, rtol=0)
    assert trained.convention == "6drepnet" and expected.shape == (2, 3, 3)
    assert not any("rbr_dense" in k for k in fused.module.state_dict())


def test_a_fused_sixdrepnet_file_evaluates_through_the_cli(prepared_aflw2000, tmp_path, capsys):
    from hpbench.models import create_model

    torch.manual_seed(0)
    torch.save(create_model("sixdrepnet.repvgg_a0").eval().fuse().state_dict(), tmp_path / "fused.pth")
    protocol = tmp_path / "p.yaml"
    protocol.write_text(yaml.safe_dump({
        "name": "sixd-check", "version": 1, "changelog": [{"version": 1}], "task": "headpose",
        "crop": "sixdrepnet-aflw2000", "input_size": 64, "metrics": ["mae", "geodesic"], "filter": {"limit": 99},
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "pt2d", "reference": "landmarks"}]},
    }))
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "fused.pth", "--arch", "sixdrepnet.repvgg_a0",
                             "--protocol", protocol, "--data", prepared_aflw2000.parent, "--workers", "0",
                             "--out", tmp_path / "record.json")
    assert code == 0, err
    record = yaml.safe_load((tmp_path / "record.json").read_text())
    assert record["model"]["convention"] == "6drepnet" and record["evaluation"]["crop"] == "sixdrepnet-aflw2000"


# ---------------------------------------------------------------------------------------------- WHENet

def test_every_weight_of_whenet_h5_is_used_once(whenet_h5):
    import h5py

    from hpbench.models import create_model

    arrays = []
    with h5py.File(whenet_h5, "r") as handle:
        handle.visititems(lambda name, obj: arrays.append(name) if isinstance(obj, h5py.Dataset) else None)
    model = create_model("whenet")
    assert model.load_keras_weights(whenet_h5) == len(arrays) == 315  # shapes checked on every assignment
    assert model.yaw.out_features == 120 and model.pitch.out_features == model.roll.out_features == 66


def test_whenet_lands_near_its_published_error_on_the_real_aflw2000_files(whenet_h5, real_samples, tmp_path, capsys):
    """The original weights through the port, fed the 8 real AFLW2000 images (a square 1.4 × the landmark
    box, stretched to 224): measured 3.66° MAE; a sign or convention error would give tens of degrees."""
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", real_samples / "aflw2000_3d", "--out", tmp_path)
    assert code == 0, err
    protocol = tmp_path / "p.yaml"
    protocol.write_text(yaml.safe_dump({
        "name": "whenet-check", "version": 1, "changelog": [{"version": 1}], "task": "headpose",
        "crop": "square-margin", "input_size": 224, "metrics": ["mae"], "filter": {"limit": 99},
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    code, out, err = run_cli(capsys, "evaluate", whenet_h5, "--arch", "whenet", "--protocol", protocol, "--data",
                             tmp_path, "--workers", "0", "--out", tmp_path / "record.json")
    assert code == 0, err
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["model"]["kind"] == "keras" and record["results"]["aflw2000"]["metrics"]["mae"] < 6.0


def test_whenet_port_equals_the_keras_original_on_the_real_crops(whenet_h5, real_samples, tmp_path, capsys):
    """tests/assets/whenet-aflw2000-reference.json: the Keras original run in TensorFlow (a scratch
    environment; tests/assets/whenet_tf_reference.py) on the crops hpbench feeds the port. Same crops
    (sha256), same angles within 0.05° (measured: 2.5e-5°)."""
    import hashlib

    from hpbench.data.headpose import HeadPoseDataset
    from hpbench.format import HPFile
    from hpbench.models.loading import load_model

    reference = json.loads((Path(__file__).parent / "assets" / "whenet-aflw2000-reference.json").read_text())
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", real_samples / "aflw2000_3d", "--out", tmp_path)
    assert code == 0, err
    data = HPFile(tmp_path / "aflw2000.h5")
    assert [str(k) for k in data.keys] == reference["keys"]
    model = load_model(whenet_h5, arch="whenet")
    preprocessing = model.preprocessing_for(224)
    dataset = HeadPoseDataset(data, range(len(data)), data.box("landmarks"), "square-margin", preprocessing)
    images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    assert [hashlib.sha256(image.permute(1, 2, 0).numpy().tobytes()).hexdigest() for image in images] == \
        reference["crop_sha256"]
    with torch.inference_mode():
        ours = model.predict(preprocessing.normalise(images)).double()
    torch.testing.assert_close(ours, torch.tensor(reference["angles_yaw_pitch_roll"], dtype=torch.float64),
                               atol=0.05, rtol=0)


def test_an_hdf5_file_that_is_not_keras_weights_is_a_clear_error(prepared_aflw2000, tmp_path, capsys):
    protocol = tmp_path / "p.yaml"
    protocol.write_text(yaml.safe_dump({
        "name": "h5-check", "version": 1, "changelog": [{"version": 1}], "task": "headpose", "crop": "kd",
        "input_size": 64, "metrics": ["mae"], "filter": {"limit": 99},
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    for arch, words in (("whenet", "not a Keras weights file of whenet"), ("hopenet.resnet50", "does not read those")):
        code, _, err = run_cli(capsys, "evaluate", prepared_aflw2000, "--arch", arch, "--protocol", protocol,
                               "--data", prepared_aflw2000.parent)
        assert code == 1 and words in err and "Traceback" not in err
