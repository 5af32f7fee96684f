"""The model registry, heads, losses and the ensemble (every registered architecture: tests/test_contracts.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpbench.errors import HpbenchError
from hpbench.models import create_model, list_models
from hpbench.models.ensemble import EnsembleSpec, ensemble_probabilities
from hpbench.models.heads import RvCHead, bin_edges
from hpbench.registry import UnknownName
from hpbench.training.losses import LOSSES


def test_registry_names_and_did_you_mean():
    names = list_models()
    assert {"hopenet.resnet50", "kd_base.resnet50", "kd_student.resnet18", "kd_student.resnet152"} <= set(names)
    assert list_models("kd_student.*") == [f"kd_student.resnet{d}" for d in (101, 152, 18, 34, 50)]
    with pytest.raises(UnknownName, match="Did you mean 'hopenet.resnet50'"):
        create_model("hopenet.resnet05")


def test_kd_student_keys_are_kd_oe_hpes():
    keys = set(create_model("kd_student.resnet50").state_dict())
    assert "encoder_net.model.conv1.weight" in keys and "encoder_net.model.layer4.2.bn3.running_var" in keys
    assert {"head_net.pitch.weight", "head_net.yaw.bias", "head_net.roll.weight"} <= keys
    assert not any(k.startswith(("pool", "rvc_head")) for k in keys)


def test_bin_layouts():
    assert [len(bin_edges(size)) - 1 for size in (1, 2, 3, 4)] == [198, 99, 66, 50]
    np.testing.assert_allclose(bin_edges(3), np.arange(-99, 102, 3))  # HopeNet's bins
    assert bin_edges(4)[0] == -100 and bin_edges(4)[-1] == 100  # rule for the non-integer case
    centres = (bin_edges(1)[:-1] + bin_edges(1)[1:]) / 2
    np.testing.assert_allclose(centres, np.linspace(-98.5, 98.5, 198))  # KD's bin centres


def test_rvc_targets_and_decoding_match_hopenets_formulas():
    head = RvCHead(4, bin_size=3.0, angles=("yaw", "pitch", "roll"))
    angles = torch.tensor([[-99.0, -0.5, 98.9], [0.0, 3.0, 45.2]])
    expected = np.digitize(angles.numpy(), np.arange(-99, 102, 3)) - 1
    np.testing.assert_array_equal(head.targets(angles).numpy(), expected)
    logits = torch.randn(2, 3, 66, generator=torch.Generator().manual_seed(0))
    hopenet = (torch.softmax(logits, -1) * torch.arange(66)).sum(-1) * 3 - 99  # Σ softmax·idx·3 − 99
    # float32 sums in another order: angles near 100° agree to a few ulps (1e-4°)
    torch.testing.assert_close(head.decode(logits, "left-edge"), hopenet, atol=1e-4, rtol=0)
    torch.testing.assert_close(head.decode(logits, "centre"), hopenet + 1.5, atol=1e-4, rtol=0)


def test_kd_student_loss_is_the_weighted_ce_when_student_equals_teacher():
    model = create_model("kd_student.resnet18", input_size=32)
    logits = torch.randn(4, 3, 198)
    targets = torch.tensor([[10.0, -20.0, 5.0]] * 4)
    loss = LOSSES.get("kd_student")(model)(logits, targets, {"teacher": torch.softmax(logits, -1)})
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), model.rvc_head.targets(targets), reduction="none")
    torch.testing.assert_close(loss, 0.05 * ce.mean(0).sum() / 2)


def test_ensemble_spec():
    assert EnsembleSpec.parse("p=15,s=5").size == 49 and EnsembleSpec.parse("p=10, s=10").size == 9
    assert EnsembleSpec(0, 1).size == 1
    with pytest.raises(HpbenchError, match="2p divisible by s"):
        EnsembleSpec.parse("p=15,s=4")
    with pytest.raises(HpbenchError, match="expected p=PAD,s=STRIDE"):
        EnsembleSpec.parse("15,5")


def test_ensemble_averages_the_windows():
    torch.manual_seed(0)
    model = create_model("kd_student.resnet18", input_size=32).eval()
    images = torch.randn(2, 3, 36, 36)
    with torch.no_grad():
        mean = ensemble_probabilities(model, images, EnsembleSpec(2, 2))
        windows = [torch.softmax(model.rvc_logits(images[:, :, y:y + 32, x:x + 32]), -1)
                   for y in (0, 2, 4) for x in (0, 2, 4)]
    torch.testing.assert_close(mean, torch.stack(windows).mean(0))


def test_a_pretrained_file_of_another_depth_or_a_damaged_one_is_one_line(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "resnet50.pth")
    with pytest.raises(HpbenchError, match="other shapes than this ResNet's .*a file for another depth"):
        create_model("hopenet.resnet18", pretrained=tmp_path / "resnet50.pth")
    (tmp_path / "damaged.pth").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(HpbenchError) as caught:
        create_model("hopenet.resnet18", pretrained=tmp_path / "damaged.pth")
    message = str(caught.value)
    assert "damaged or not a torch file" in message and "\n" not in message and "weights_only" not in message
