"""Your own model, in your own code: ``hpbench.evaluate`` on a module or a callable, ``hpbench.score`` and
``hpbench score`` on predictions files made anywhere, ``hpbench protocols keys``."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
import torch
import yaml

import hpbench
from hpbench.metrics import geodesic_errors
from hpbench.models import create_model
from hpbench.models.checkpoint import Checkpoint
from hpbench.models.objects import state_sha256
from hpbench.models.torchscript import save_torchscript
from hpbench.pose import rotation_from_ypr
from tests.conftest import run_cli

SIZE = 64


class TinyNet(torch.nn.Module):
    """A researcher's own network, registered nowhere: a few convolutions to three angles."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=4), torch.nn.ReLU(),
                                            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.angles = torch.nn.Linear(8, 3)

    def forward(self, images):
        return 30 * torch.tanh(self.angles(self.features(images)))


@pytest.fixture(scope="module")
def head(prepared_aflw2000, tmp_path_factory):
    """A data folder with synthetic AFLW2000 and a protocol that scores it at 64 px."""
    folder = tmp_path_factory.mktemp("api")
    data = folder / "data"
    data.mkdir()
    (data / "aflw2000.h5").symlink_to(prepared_aflw2000)
    protocol = folder / "api-check.yaml"
    protocol.write_text(yaml.safe_dump({
        "name": "api-check", "title": "API check", "version": 1, "changelog": [{"version": 1}], "task": "headpose",
        "filter": {"limit": 99}, "crop": "kd", "input_size": SIZE, "metrics": ["mae", "geodesic", "maev"],
        "missing_face": "fallback",
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    return folder, data, protocol


def _metrics(evaluation) -> dict:
    return evaluation.record.results["aflw2000"].metrics


def test_the_top_level_api_is_lazy_and_complete():
    assert {"evaluate", "score", "load_protocol", "list_protocols", "create_model", "list_models", "HPFile"} <= set(
        dir(hpbench))
    assert hpbench.load_protocol("p1").name == "p1" and "hopenet.resnet18" in hpbench.list_models()
    with pytest.raises(AttributeError):
        hpbench.no_such_thing  # noqa: B018


def test_your_own_module_scores_as_its_torchscript_file_does(head, tmp_path, capsys):
    folder, data, protocol = head
    torch.manual_seed(0)
    model = TinyNet().eval()
    evaluation = hpbench.evaluate(model, protocol, data=data, convention="hpbench")
    record = evaluation.record
    assert (record.model.kind, record.model.arch, record.model.convention) == ("module", "TinyNet", "hpbench")
    clone = TinyNet()
    clone.load_state_dict(model.state_dict())
    assert state_sha256(clone) == record.model.sha256  # the weights are the identity, not the object
    path = tmp_path / "tiny.pt"
    save_torchscript(model, path, torch.zeros(1, 3, SIZE, SIZE), preprocessing=hpbench.Preprocessing(SIZE))
    code, _, err = run_cli(capsys, "evaluate", path, "--protocol", protocol, "--data", data, "--workers", "0",
                           "--out", tmp_path / "ts.json")
    assert code == 0, err
    scripted = json.loads((tmp_path / "ts.json").read_text())["results"]["aflw2000"]["metrics"]
    assert scripted == pytest.approx(_metrics(evaluation), abs=1e-9)


def test_one_set_of_weights_scores_the_same_as_module_checkpoint_torchscript_and_onnx(head, tmp_path):
    folder, data, protocol = head
    torch.manual_seed(0)
    model = create_model("hopenet.resnet18", input_size=SIZE).eval()
    as_module = _metrics(hpbench.evaluate(model, protocol, data=data))
    Checkpoint.of_model(model).save(tmp_path / "model.pt")
    assert _metrics(hpbench.evaluate(tmp_path / "model.pt", protocol, data=data)) == as_module
    from hpbench.models.torchscript import Predicting

    save_torchscript(Predicting(model), tmp_path / "model.ts", torch.zeros(1, 3, SIZE, SIZE), convention="hopenet",
                     preprocessing=model.preprocessing)
    assert _metrics(hpbench.evaluate(tmp_path / "model.ts", protocol, data=data)) == pytest.approx(as_module, abs=1e-9)
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Predicting(model), torch.zeros(2, 3, SIZE, SIZE), str(tmp_path / "model.onnx"),
                          input_names=["images"], output_names=["angles"],
                          dynamic_axes={"images": {0: "batch"}}, dynamo=False)
    (tmp_path / "model.onnx.json").write_text(json.dumps({"convention": "hopenet",  # what the graph cannot say
                                                           "resize_kernel": model.preprocessing.resize_kernel}))
    as_onnx = _metrics(hpbench.evaluate(tmp_path / "model.onnx", protocol, data=data))
    assert as_onnx == pytest.approx(as_module, abs=1e-4)  # onnxruntime's kernels round otherwise, by < 1e-4°


def test_a_numpy_function_scores_and_is_shown_apart(head):
    folder, data, protocol = head

    def tilted(images):  # no torch here: numpy batches in, angles out
        return np.tile(np.array([10.0, -5.0, 2.0]), (len(images), 1)) + images.mean(axis=(1, 2, 3))[:, None]

    evaluation = hpbench.evaluate(tilted, protocol, data=data)
    record = evaluation.record
    assert record.model.kind == "callable" and record.model.arch.endswith("tilted")
    assert np.isfinite(_metrics(evaluation)["mae"])
    from hpbench.evaluation.conformance import conformance

    assert any("callable without weights" in reason for reason in conformance(record, hpbench.load_protocol(protocol)))


def _write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_saved_predictions_score_back_to_the_same_record(head, tmp_path, capsys):
    """evaluate --save-predictions → score reproduces the metrics to 1e-9, as angles and as rotation
    matrices (6DRepNet's convention)."""
    folder, data, protocol = head
    torch.manual_seed(0)
    Checkpoint.of_model(create_model("hopenet.resnet18", input_size=SIZE)).save(tmp_path / "model.pt")
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "model.pt", "--protocol", protocol, "--data", data,
                           "--workers", "0", "--out", tmp_path / "record.json", "--save-predictions",
                           tmp_path / "predictions.csv")
    assert code == 0, err
    expected = json.loads((tmp_path / "record.json").read_text())["results"]["aflw2000"]["metrics"]
    code, out, err = run_cli(capsys, "score", tmp_path / "predictions.csv", "--protocol", protocol, "--data", data,
                             "--out", tmp_path / "scored.json")
    assert code == 0, err
    scored = json.loads((tmp_path / "scored.json").read_text())
    assert scored["model"]["kind"] == "predictions" and scored["results"]["aflw2000"]["metrics"] == pytest.approx(
        expected, abs=1e-9)
    assert "leaderboard:" in out
    rows = list(csv.DictReader(open(tmp_path / "predictions.csv")))
    angles = np.array([[float(r[f"pred_{a}"]) for a in ("yaw", "pitch", "roll")] for r in rows])
    matrices = rotation_from_ypr(angles)
    _write_csv(tmp_path / "matrices.csv", [{"key": r["key"], **{f"r{i + 1}{j + 1}": repr(float(m[i, j]))
                                                                 for i in range(3) for j in range(3)}}
                                            for r, m in zip(rows, matrices)])
    from_matrices = hpbench.score(tmp_path / "matrices.csv", protocol, data=data, convention="6drepnet")
    assert _metrics(from_matrices) == pytest.approx(expected, abs=1e-9)


def test_hand_computed_errors_from_a_predictions_file(head, tmp_path, capsys):
    folder, data, protocol = head
    code, _, err = run_cli(capsys, "protocols", "keys", protocol, "--data", data, "--out", tmp_path / "keys.csv")
    assert code == 0, err
    handed = list(csv.DictReader(open(tmp_path / "keys.csv")))
    assert set(handed[0]) == {"dataset", "key", "x1", "y1", "x2", "y2", "fallback_box"}
    truth = hpbench.HPFile(data / "aflw2000.h5")
    position = {str(k): i for i, k in enumerate(truth.keys)}
    true = np.array([truth.ypr[position[r["key"]]] for r in handed], dtype=np.float64)
    offset = np.array([3.0, -6.0, 0.0])  # yaw +3, pitch −6: MAE (3 + 6 + 0) / 3 = 3
    rows = [{"dataset": "aflw2000", "key": r["key"], "yaw": repr(float(y + offset[0])),
             "pitch": repr(float(p + offset[1])), "roll": repr(float(q)), "run_time": "0.01"}
            for r, (y, p, q) in zip(handed, true.astype(np.float64))]
    result = hpbench.score(_write_csv(tmp_path / "mine.csv", rows), protocol, data=data).record.results["aflw2000"]
    assert result.metrics["mae"] == pytest.approx(3.0, abs=1e-12)
    assert result.metrics["mae_yaw"] == pytest.approx(3.0) and result.metrics["mae_pitch"] == pytest.approx(6.0)
    assert result.metrics["geodesic"] == pytest.approx(geodesic_errors(true + offset, true).mean(), abs=1e-12)
    assert result.counts["evaluated"] == len(handed) and result.seconds["forward"] == pytest.approx(0.01 * len(handed))
    (tmp_path / "mine.json").write_text(json.dumps(rows))  # the same rows as JSON
    assert hpbench.score(tmp_path / "mine.json", protocol, data=data).record.results["aflw2000"].metrics == \
        result.metrics


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[:-2], "2 of the"),  # missing: counted and said, the record shown apart
    (lambda rows: rows + [{**rows[0], "key": "image99999"}], "keys that aflw2000's prepared file does not hold"),
    (lambda rows: rows + [rows[3]], "rows given twice"),
    (lambda rows: [{**rows[0], "yaw": "nan"}] + rows[1:], "not numbers or not finite"),
    (lambda rows: [{**rows[0], "pitch": ""}] + rows[1:], "not numbers or not finite"),
])
def test_a_wrong_predictions_file_is_named_row_by_row(head, tmp_path, capsys, change, message):
    folder, data, protocol = head
    run_cli(capsys, "protocols", "keys", protocol, "--data", data, "--out", tmp_path / "keys.csv")
    rows = [{"key": r["key"], "yaw": "1.0", "pitch": "2.0", "roll": "3.0"}
            for r in csv.DictReader(open(tmp_path / "keys.csv"))]
    code, out, err = run_cli(capsys, "score", _write_csv(tmp_path / "p.csv", change(rows)), "--protocol", protocol,
                             "--data", data, "--out", tmp_path / "r.json")
    if message == "2 of the":
        assert code == 0 and message in out and "selected samples not scored" in out
    else:
        assert code == 1 and message in err and str(tmp_path / "p.csv") in err and "Traceback" not in err


def test_body_pose_predictions_score_back_to_the_same_record(prepared_lsp, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "lsp.h5").symlink_to(prepared_lsp)
    torch.manual_seed(0)
    Checkpoint.of_model(create_model("cpm.6stage", stages=2, input_size=96, width=0.125)).save(tmp_path / "cpm.pt")
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "cpm.pt", "--protocol", "synthetic-lsp", "--data", data,
                           "--workers", "0", "--out", tmp_path / "record.json", "--save-predictions",
                           tmp_path / "joints.csv")
    assert code == 0, err
    expected = json.loads((tmp_path / "record.json").read_text())["results"]["lsp"]
    scored = hpbench.score(tmp_path / "joints.csv", "synthetic-lsp", data=data).record.results["lsp"]
    assert scored.metrics["pck@0.2"] == pytest.approx(expected["metrics"]["pck@0.2"], abs=1e-9)
    assert scored.per_joint == expected["per_joint"] and "loss" not in scored.metrics
