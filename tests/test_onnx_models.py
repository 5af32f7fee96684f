"""ONNX files exported by anyone run through ``hpbench evaluate`` with onnxruntime: the preprocessing
and output convention their sidecar names, the layouts exporters produce (NCHW or NHWC, a fixed batch,
one output per angle), and external data confined to the model's folder."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from hpbench.errors import HpbenchError
from hpbench.models import create_model
from hpbench.models.loading import load_model
from tests.conftest import run_cli

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")


class Exported(nn.Module):
    """What a third party's export looks like: ``predict`` behind an NHWC input and/or one output per angle."""

    def __init__(self, model, nhwc=False, split=False):
        super().__init__()
        self.model, self.nhwc, self.split = model, nhwc, split

    def forward(self, images):
        values = self.model.predict(images.permute(0, 3, 1, 2) if self.nhwc else images)
        return tuple(values[:, i:i + 1] for i in range(values.shape[1])) if self.split else values


def export(module, path, size, nhwc=False, batch=None, outputs=("angles",), sidecar=None):
    example = torch.zeros(batch or 2, *((size, size, 3) if nhwc else (3, size, size)))
    dynamic = None if batch else {"images": {0: "batch"}}
    with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated in torch ≥ 2.9; it works
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), example, str(path), input_names=["images"], output_names=list(outputs),
                          dynamic_axes=dynamic, dynamo=False)
    if sidecar is not None:
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
    return path


def write_protocol(path, crop="kd", input_size=64):
    path.write_text(yaml.safe_dump({
        "name": "onnx-check", "version": 1, "changelog": [{"version": 1}], "task": "headpose", "crop": crop,
        "input_size": input_size, "metrics": ["mae", "geodesic"], "filter": {"limit": 99},
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    return path


def images(size, count=3):
    return torch.randn(count, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_an_nchw_export_predicts_as_the_torch_model_and_takes_its_size_from_the_graph(tmp_path):
    torch.manual_seed(0)
    model = create_model("kd_student.resnet18", input_size=64).eval()
    export(Exported(model), tmp_path / "student.onnx", 64)  # no sidecar: the defaults and the graph's size
    loaded = load_model(tmp_path / "student.onnx")
    assert (loaded.kind, loaded.convention, loaded.preprocessing.input_size) == ("onnx", "hpbench", 64)
    torch_count = sum(p.numel() for p in model.parameters()) / 1e6  # the exporter folds BatchNorm into convs
    assert 0.998 * torch_count < loaded.parameters_m <= torch_count
    with torch.inference_mode():
        torch.testing.assert_close(loaded.predict(images(64)), model.predict(images(64)), atol=1e-4, rtol=0)


def test_a_rotation_matrix_export_with_a_sidecar_evaluates_through_the_cli(prepared_aflw2000, tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model("sixdrepnet.repvgg_a0").eval().fuse()
    export(Exported(model), tmp_path / "6drepnet.onnx", 64, sidecar={
        "convention": "6drepnet", "crop": "sixdrepnet-aflw2000", "colour": "rgb", "resize_kernel": "pil-bilinear"})
    protocol = write_protocol(tmp_path / "p.yaml")
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "6drepnet.onnx", "--protocol", protocol, "--data",
                             prepared_aflw2000.parent, "--workers", "0", "--out", tmp_path / "onnx.json",
                             "--model-preprocessing")  # the sidecar's crop rule
    assert code == 0, err
    torch.save(model.state_dict(), tmp_path / "6drepnet.pth")
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "6drepnet.pth", "--arch", "sixdrepnet.repvgg_a0",
                           "--protocol", protocol, "--data", prepared_aflw2000.parent, "--workers", "0",
                           "--crop", "sixdrepnet-aflw2000", "--out", tmp_path / "torch.json")
    assert code == 0, err
    onnx_record, torch_record = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("onnx", "torch"))
    assert onnx_record["model"]["kind"] == "onnx" and onnx_record["evaluation"]["crop"] == "sixdrepnet-aflw2000"
    assert onnx_record["evaluation"]["resize_kernel"] == "pil-bilinear"
    mae = [r["results"]["aflw2000"]["metrics"]["mae"] for r in (onnx_record, torch_record)]
    assert mae[0] == pytest.approx(mae[1], abs=1e-3)


def test_whenet_exported_as_keras_exporters_write_it_equals_the_port_on_real_images(
        whenet_h5, real_samples, tmp_path, capsys):
    """The port of the authors' WHENet.h5 exported the way tf2onnx writes a Keras model: NHWC input, a
    fixed batch of 1, three outputs; evaluated on the 8 real AFLW2000 images it gives the port's angles."""
    port = load_model(whenet_h5, arch="whenet")
    export(Exported(port.module, nhwc=True, split=True), tmp_path / "whenet.onnx", 224, nhwc=True, batch=1,
           outputs=("yaw", "pitch", "roll"),
           sidecar={"outputs": ["yaw", "pitch", "roll"], "convention": "hopenet", "arch": "whenet"})
    code, _, err = run_cli(capsys, "prepare", "aflw2000", "--src", real_samples / "aflw2000_3d", "--out", tmp_path)
    assert code == 0, err
    protocol = write_protocol(tmp_path / "p.yaml", crop="square-margin", input_size=224)
    for name, extra in (("whenet.onnx", []), ("port", [str(whenet_h5), "--arch", "whenet"])):
        model = [str(tmp_path / name)] if not extra else extra[:1]
        code, _, err = run_cli(capsys, "evaluate", *model, *extra[1:], "--protocol", protocol, "--data", tmp_path,
                               "--workers", "0", "--batch-size", "3", "--out", tmp_path / f"{name}.json",
                               "--save-predictions", tmp_path / f"{name}.csv")
        assert code == 0, err
    onnx_rows, port_rows = (np.genfromtxt(tmp_path / f"{n}.csv", delimiter=",", skip_header=1, usecols=(2, 3, 4))
                            for n in ("whenet.onnx", "port"))
    np.testing.assert_allclose(onnx_rows, port_rows, atol=2e-3)  # the CSV's 4 decimals
    record = json.loads((tmp_path / "whenet.onnx.json").read_text())
    assert record["model"]["arch"] == "whenet" and record["results"]["aflw2000"]["metrics"]["mae"] < 6.0


def test_external_data_inside_the_folder_loads_and_outside_is_refused(tmp_path):
    torch.manual_seed(0)
    model = create_model("kd_student.resnet18", input_size=32).eval()
    proto = onnx.load(str(export(Exported(model), tmp_path / "inline.onnx", 32)))
    onnx.save_model(proto, str(tmp_path / "split.onnx"), save_as_external_data=True, location="split.weights",
                    size_threshold=0)
    with torch.inference_mode():
        torch.testing.assert_close(load_model(tmp_path / "split.onnx").predict(images(32)),
                                   model.predict(images(32)), atol=1e-4, rtol=0)
    hostile = onnx.load(str(tmp_path / "split.onnx"), load_external_data=False)
    for entry in hostile.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../../etc/passwd"
    onnx.save_model(hostile, str(tmp_path / "hostile.onnx"))
    with pytest.raises(HpbenchError, match="climbs out"):
        load_model(tmp_path / "hostile.onnx")


@pytest.mark.parametrize("sidecar, words", [
    ({"input_szie": 64}, "did you mean 'input_size'"),
    ({"colour": "rbg"}, "colour must be rgb or bgr"),
    ({"std": [0.2, 0, 0.2]}, "std must be a list of three numbers above 0"),
    ({"crop": "kd-face"}, "crop must be a crop rule"),
    ({"input_size": 128}, "its graph takes 64"),
    ({"outputs": ["angle"]}, "no output named 'angle'"),
    ({"layout": "chw"}, "layout must be nchw or nhwc"),
    ({"convention": "hopnet"}, "hopenet"),
])
def test_a_wrong_sidecar_is_a_one_line_error_naming_it(tmp_path, sidecar, words):
    export(Exported(create_model("kd_student.resnet18", input_size=64)), tmp_path / "m.onnx", 64, sidecar=sidecar)
    with pytest.raises(HpbenchError, match=words.replace("[", r"\[").replace("(", r"\(")):
        load_model(tmp_path / "m.onnx")


def test_files_that_are_not_usable_onnx_are_clear_errors(tmp_path, capsys):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07 not a protobuf model")
    with pytest.raises(HpbenchError, match="not an ONNX file|cannot run it"):
        load_model(tmp_path / "junk.onnx")
    export(Exported(create_model("kd_student.resnet18", input_size=32), split=True), tmp_path / "three.onnx", 32,
           outputs=("yaw", "pitch", "roll"))
    with pytest.raises(HpbenchError, match="has 3 outputs \\(yaw, pitch, roll\\); name the one"):
        load_model(tmp_path / "three.onnx")
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "onnx" in out and "whenet" in out and "sixdrepnet.repvgg_b1g2" in out
    code, out, _ = run_cli(capsys, "models", "resnet5")
    assert out.split() == ["hmtl.resnet50", "hopenet.resnet50", "kd_base.resnet50", "kd_student.resnet50"]


def test_without_the_onnx_extra_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    export(Exported(create_model("kd_student.resnet18", input_size=32)), tmp_path / "m.onnx", 32)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an absent package looks like
    with pytest.raises(HpbenchError, match=r"pip install 'hpbench\[onnx\]'"):
        load_model(tmp_path / "m.onnx")
